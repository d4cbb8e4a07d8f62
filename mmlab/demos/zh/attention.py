"""Chinese texts of the attention demo (:mod:`mmlab.demos.attention`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "{type(model).__name__} has no MultiHeadAttention layer to show",
    "the tokenizer needs an encode(text) method; {type(tokenizer).__name__} has none",
    # matplotlib axis labels: the default font has no Chinese glyphs
    "key (attended to)",
    "query (attending)",
}

ZH = {
    "Type some text first: the input is empty.": "请先输入一些文本：输入是空的。",
    "The input must be text.": "输入必须是文本。",
    "The text is {len(text)} characters long; type at most {MAX_TEXT_CHARS}.": "文本有 {len(text)} 个字符；最多输入 {MAX_TEXT_CHARS} 个。",
    "The tokenizer cannot read this text: {err}": "分词器读不了这段文本（模型只认识它训练词表里的字符）：{err}",
    "The tokenizer produced no tokens for this text.": "分词器没有从这段文本得到任何词元。",
    "The text is {len(ids)} tokens long; this model takes at most {limit}. Type something shorter.": "文本有 {len(ids)} 个词元；这个模型最多接受 {limit} 个。请输入短一些的文本。",
    "The layer": "层",
    "The head ('{ALL_HEADS}' or a number)": "头（'{ALL_HEADS}' 或一个数字）",
    "layer {layer}, head {h}": "第 {layer} 层，第 {h} 个头",
    "Attention maps": "注意力图",
    "{len(tokens)} tokens: {' '.join(tokens)}": "{len(tokens)} 个词元：{' '.join(tokens)}",
    " (at most {limit} tokens)": "（最多 {limit} 个词元）",
    "## {title}\nType text{limit_text}, press **Show attention**, then pick a layer and a head. In each map, row i shows how much token i (the query) attends to each token (the keys).": "## {title}\n输入文本{limit_text}，按 **显示注意力**，再选一层和一个头。每张图中，第 i 行表示词元 i（查询）对每个词元（键）的关注程度。",
    "text": "文本",
    "type here": "在这里输入",
    "layer {i}": "第 {i} 层",
    "layer": "层",
    "all heads": "所有头",
    "head {h}": "第 {h} 个头",
    "head": "头",
    "Show attention": "显示注意力",
    "attention": "注意力",
}
