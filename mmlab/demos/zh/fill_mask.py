"""Chinese texts of the fill_mask demo (:mod:`mmlab.demos.fill_mask`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "cannot find masked-LM logits in the model's output ({type(output).__name__})",
    "the tokenizer has no mask token: a fill-mask demo needs a masked language model's tokenizer",
    # the model's own English world (its inputs, examples, prompt templates and replies)
    "a {mask} is an ordered sequence",
}

ZH = {
    "The tokenizer knows only the words and pieces of its training vocabulary, not {''.join(unknown[:8])}: type a sentence in the language it learned, e.g. 'a list is {mask}'.": "分词器只认识它训练词表里的词和子词，不认识“{''.join(unknown[:8])}”：请用它学过的语言输入句子，例如 'a list is {mask}'。",
    "Type a sentence with one {mask} first: the input is empty.": "请先输入一个带一个 {mask} 的句子：输入是空的。",
    "The input must be text.": "输入必须是文本。",
    "The text is {len(text)} characters long; type at most {MAX_TEXT_CHARS}.": "文本有 {len(text)} 个字符；最多输入 {MAX_TEXT_CHARS} 个。",
    "Put one {mask} where a word should be predicted, e.g. 'a list is {mask}'.": "在要预测词的位置放一个 {mask}，例如 'a list is {mask}'。",
    "Use exactly one {mask}: this text has {count}. Each mask is predicted on its own.": "只能用一个 {mask}：这段文本有 {count} 个。每个掩码要单独预测。",
    "Top k": "前 k 个",
    "The text is {length} tokens long; this model takes at most {limit}.": "文本有 {length} 个词元；这个模型最多接受 {limit} 个。",
    "| # | token | probability | sentence |": "| # | 词元 | 概率 | 句子 |",
    "Fill the mask": "填空（掩码预测）",
    "## {title}\nType a sentence with exactly one `{mask}`; the model ranks the tokens that fit.": "## {title}\n输入一个恰好带一个 `{mask}` 的句子；模型会给能填进去的词元排序。",
    "sentence": "句子",
    "top k": "前 k 个",
    "Predict": "预测",
}
