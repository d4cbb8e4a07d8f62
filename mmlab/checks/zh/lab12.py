"""Chinese check messages for lab 12 (:mod:`mmlab.checks.lab12`); see :mod:`mmlab.messages`."""

ZH = {
    "the text before the image: the image tokens come first ([image tokens; text embeddings]), so every text position can attend to the whole picture under the causal mask": "文本放在了图像前面：图像词元在前（[图像词元; 文本嵌入]），这样在因果掩码下每个文本位置都能关注整张图",
    "the image features not passed through the projector: the raw patch features are not in the language model's embedding space; use projector(features)": "图像特征没有经过投影层：原始的图像块特征不在语言模型的嵌入空间里；请用 projector(features)",
    "the text embeddings passed through the projector too: only the image features are projected": "文本嵌入也经过了投影层：只有图像特征需要投影",
    "a concatenation along the wrong axis: the sequence axis is dim=1 ((B, P, C) and (B, T, C) give (B, P + T, C)); dim=0 stacks them as more examples": "在错误的维度上拼接：序列维是 dim=1（(B, P, C) 和 (B, T, C) 得到 (B, P + T, C)）；dim=0 会把它们当作更多的样本堆在一起",
    "targets at the input positions: position t predicts token t + 1, so the answer's first token is the target at the position *before* it (the <answer> token), not at its own position": "目标放在了输入位置上：位置 t 预测词元 t + 1，所以答案的第一个词元是它*前一个*位置（<answer> 词元）的目标，而不是它自己位置的",
    "targets on the question too: the loss counts only the answer tokens (and <eos>); every position before the answer gets IGNORE (-100)": "问题上也有目标：损失只计算答案的词元（和 <eos>）；答案之前的每个位置都是 IGNORE（-100）",
    "targets on the padding: positions after <eos> get IGNORE (-100), not the <pad> token": "填充上也有目标：<eos> 之后的位置是 IGNORE（-100），而不是 <pad> 词元",
    "0 where the loss should not count: 0 is a real token id (<pad>); F.cross_entropy skips ignore_index = -100 (IGNORE)": "不计算损失的地方填了 0：0 是一个真实的词元 id（<pad>）；F.cross_entropy 跳过的是 ignore_index = -100（IGNORE）",
    "an input that keeps the last token (<eos>): the input is tokens[:-1] (nothing is predicted after <eos>)": "输入保留了最后一个词元（<eos>）：输入是 tokens[:-1]（<eos> 之后不需要预测）",
    "B={B}, P={P} image tokens, T={T} text tokens, width {d}": "B={B}，P={P} 个图像词元，T={T} 个文本词元，宽度 {d}",
    "on {case}: {WRONG_AXIS} (got shape {tuple(got.shape)})": "在{case}上：{WRONG_AXIS}（得到的形状是 {tuple(got.shape)}）",
    "input sequence": "输入序列",
    "the gradient must reach the projector (no .detach() or no_grad inside): stage 1 trains it": "梯度必须传到投影层（里面不要用 .detach() 或 no_grad）：第 1 阶段训练的就是它",
    "question 'what colour is the circle ?' -> 'red'": "问题 'what colour is the circle ?' -> 'red'",
    "a caption row '<caption> a small red circle'": "一行描述 '<caption> a small red circle'",
    "a row with no padding": "没有填充的一行",
    "on {case}: return a pair (ids, targets), got {type(got).__name__}": "在{case}上：请返回一对 (ids, targets)，得到的是 {type(got).__name__}",
    "ids": "ids",
    "targets": "targets",
}
