"""Chinese texts of the image-generation demo (:mod:`mmlab.demos.imagegen`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "{name} must be a torch module, got {type(model).__name__}",
    # the model's own English world: a caption it knows (the caption box's value and example)
    "a red circle top left",
}

ZH = {
    "diffusion (DDIM)": "扩散模型（DDIM 采样）",
    "diffusion (DDPM)": "扩散模型（DDPM 采样）",
    "VQ-VAE + GPT": "VQ-VAE + GPT（自回归生成）",
    "This model knows only captions 'a [colour] [kind] [place]': colour one of {', '.join(COLOURS)}; kind one of {', '.join(KINDS)}; place one of {', '.join(PLACES)}. For example 'a red circle top left'.": "这个模型只认识形如 'a [colour] [kind] [place]' 的英文描述（它的训练词表）：colour 取 {', '.join(COLOURS)} 之一；kind 取 {', '.join(KINDS)} 之一；place 取 {', '.join(PLACES)} 之一。例如 'a red circle top left'。",
    "Pick a method: {', '.join(methods)}.": "请选择一种方法：{', '.join(methods)}。",
    "Number of pictures": "图片数量",
    "Guidance scale": "引导系数",
    "Sampling steps": "采样步数",
    "Seed": "随机种子",
    "This demo was started without the {GPT_METHOD} models.": "这个演示启动时没有加载 {GPT_METHOD} 的模型。",
    "Text to image": "文生图",
    "CLIP {s}": "CLIP 得分 {s}",
    "{len(gallery)} pictures for '{text}' ({settings.method}), best CLIP score first.": "为 '{text}' 生成了 {len(gallery)} 张图片，方法：{settings.method}；按 CLIP 得分从高到低排列。",
    "## {title}\nCaptions read 'a [colour] [kind] [place]': {', '.join(COLOURS)}; {', '.join(KINDS)}; {', '.join(PLACES)}. Steps apply to diffusion (at most {T}); guidance 0 ignores the caption, 1 is the plain conditional model.": "## {title}\n描述用英文写成 'a [colour] [kind] [place]'：{', '.join(COLOURS)}；{', '.join(KINDS)}；{', '.join(PLACES)}。步数只对扩散模型有效（最多 {T} 步）；引导系数为 0 时忽略描述，为 1 时就是普通的条件模型。",
    "method": "方法",
    "pictures (1 to {MAX_SAMPLES})": "图片数（1 到 {MAX_SAMPLES}）",
    "guidance (0 to {MAX_GUIDANCE})": "引导系数（0 到 {MAX_GUIDANCE}）",
    "steps (1 to {T})": "步数（1 到 {T}）",
    "seed": "随机种子",
    "pictures": "图片",
}
