"""Chinese texts of the sketch demo (:mod:`mmlab.demos.sketch`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "in_channels must be 1 (grey) or 3 (colour), got {in_channels}",
    "build_sketch_demo needs a CLIP model, got {type(clip_model).__name__}",
    "tab names must be identifiers (e.g. 'digits'), got {list(tabs)}",
    "with one tab per model, each tab starts with its model's own names and template",
    # the model's own English world (its inputs, examples, prompt templates and replies)
    "a large {{}}",
    "a handwritten {{}}",
}

ZH = {
    "The canvas is blank: draw something first.": "画布是空白的：请先画点什么。",
    "This model sees colour, and black or grey ink looks like its black background. Draw in colour: pick red, green or blue from the brush's colours.": "这个模型看得见颜色，黑色或灰色的笔迹看起来和它的黑色背景一样。请用彩色画：从画笔的颜色中选红、绿或蓝。",
    "Type at least one class name (separate names with commas).": "请至少输入一个类别名（多个名字用逗号分隔）。",
    "list of class names": "类别名列表",
    "Type at most {MAX_NAMES} class names, got {len(names)}.": "最多输入 {MAX_NAMES} 个类别名，得到的是 {len(names)} 个。",
    "A class name may be at most {MAX_NAME_CHARS} characters long.": "类别名最多 {MAX_NAME_CHARS} 个字符。",
    "Each class name may appear only once.": "每个类别名只能出现一次。",
    "prompt template": "提示词模板",
    "The prompt template {template} needs exactly one '{{}}' where the class name goes, and no other braces.": "提示词模板 {template} 需要恰好一个 '{{}}' 放类别名，不能有其他花括号。",
    "Draw **one filled shape** (a circle, a square or a triangle) in {', '.join(COLOURS[:-1])} or {COLOURS[-1]} (the brush's colours), large in the middle of the canvas, and colour it in completely: the model learned solid shapes, not outlines.": "画**一个实心形状**（圆形、正方形或三角形），颜色用 {', '.join(COLOURS[:-1])} 或 {COLOURS[-1]}（画笔的颜色），画大一点、放在画布中间，并且完全涂满：模型学的是实心形状，不是轮廓。",
    "Draw one digit large in the middle of the canvas.": "在画布中间画一个大大的数字。",
    "drawing": "画",
    "class names (comma-separated)": "类别名（用英文逗号分隔）",
    "Classify": "分类",
    "zero-shot probabilities": "零样本概率",
    "Zero-shot sketch": "零样本草图分类",
    "## Draw, then see CLIP's zero-shot guess": "## 画一画，看看 CLIP 的零样本猜测",
}
