"""Chinese texts of the translate demo (:mod:`mmlab.demos.translate`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "build_translate_demo needs an mmlab Seq2Seq model, got {type(translator).__name__}",
    # the model's own English world (its inputs, examples, prompt templates and replies)
    "the small red ball is on the table",
    # matplotlib axis labels: the default font has no Chinese glyphs
    "source word (attended to)",
    "output word written",
}

ZH = {
    "sentence": "句子",
    "The input has {len(words)} words; this model reads at most {limit}.": "输入有 {len(words)} 个词；这个模型最多读 {limit} 个。",
    "This is not English: the model reads English sentences and writes French.": "这不是英文：模型读英文句子，写出法文（它只认识训练词表里的英文词）。",
    "This looks like French ({', '.join(french[:5])}): the model translates English into French, so type English, such as “{task.example}”.": "这看起来是法文（{', '.join(french[:5])}）：模型把英文翻译成法文，所以请输入英文，例如“{task.example}”。",
    "The model never saw these words: {', '.join(unknown[:8])}. Try a sentence like “{task.example}”.": "模型从没见过这些词：{', '.join(unknown[:8])}。试试“{task.example}”这样的句子。",
    "Encoder-decoder: translation and summaries": "编码器-解码器：翻译和摘要",
    "Mode must be one of {', '.join(tasks)}, got {mode}.": "模式必须是 {', '.join(tasks)} 之一，得到的是 {mode}。",
    "Beam size": "束宽",
    "greedy decoding": "贪心解码",
    "beam search with {num_beams} beams": "束宽为 {num_beams} 的束搜索",
    "{mode}: {len(source)} words in, {len(written) - 1} out, {how}.": "{mode}：输入 {len(source)} 个词，输出 {len(written) - 1} 个，{how}。",
    "### {title}\nThe map: the last decoder layer's cross-attention, a row per output word.": "### {title}\n图中是最后一个解码器层的交叉注意力，每个输出词一行。",
    "input": "输入",
    "mode": "模式",
    "beam size (1 to {MAX_BEAMS})": "束宽（1 到 {MAX_BEAMS}）",
    "Run": "运行",
    "output": "输出",
    "cross-attention": "交叉注意力",
}
