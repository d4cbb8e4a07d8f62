"""Chinese texts of the chat demo (:mod:`mmlab.demos.chat`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "build_chat_demo needs an mmlab GPT model, got {type(model).__name__}",
    "the tokenizer must be the chat WordTokenizer (encode, decode, eot_id)",
    # the reward marker the chat history is split on (it must stay as typed)
    "  [reward",
    "{reply}  [reward model: {score}]",
    # the English world's example prompts (the model's own words)
    "what colour is grass",
    "reverse cat dog",
    "rate fun dull nice",
}

ZH = {
    "The message is empty: type a question, e.g. 'what colour is grass'.": "消息是空的：请输入一个问题，例如 'what colour is grass'。",
    "The message is {len(message)} characters long; type at most {MAX_TEXT_CHARS}.": "消息有 {len(message)} 个字符；最多输入 {MAX_TEXT_CHARS} 个。",
    "The markers S:, U: and A: belong to the chat template: type the message without them.": "标记 S:、U: 和 A: 属于对话模板：请去掉它们再输入消息。",
    "The message has no words: type a question, e.g. 'what colour is grass'.": "消息里没有词：请输入一个问题，例如 'what colour is grass'。",
    "The chat history is not valid: press Clear and start again.": "对话历史无效：请按 Clear 重新开始。",
    "Temperature and max tokens must be numbers.": "温度和最大词元数必须是数字。",
    "Temperature must be 0 or more (0 = always the most likely word), got {temperature}.": "温度必须大于或等于 0（0 = 总是选最可能的词），得到的是 {temperature}。",
    "Max tokens must be a whole number, 1 or more, got {max_tokens}.": "最大词元数必须是大于或等于 1 的整数，得到的是 {max_tokens}。",
    "The system prompt must be text.": "系统提示词必须是文本。",
    "This tiny model knows only its world's {tokenizer.vocab_size} words; unknown: {', '.join(unknown[:8])}. Try 'what colour is grass', 'reverse cat dog' or 'rate fun dull nice'.": "这个小模型只认识它的小世界里的 {tokenizer.vocab_size} 个英文词（它的训练词表），不认识：{', '.join(unknown[:8])}。试试 'what colour is grass'、'reverse cat dog' 或 'rate fun dull nice'。",
    "The message is too long: with the template it is {len(ids)} tokens, and this model reads at most {block} (leave room for the reply). Shorten the message or the system prompt.": "消息太长了：套上模板后有 {len(ids)} 个词元，而这个模型最多读 {block} 个（还要给回复留位置）。请缩短消息或系统提示词。",
    "(the model ended its turn without a word)": "（模型没说一个词就结束了这一轮）",
    "Mini chat model": "迷你对话模型",
    "## {title}\nA 2-layer GPT that knows about {tokenizer.vocab_size} {units}. Ask '{examples[0]}', '{examples[1]}' or '{examples[2]}'. Temperature 0 always picks the most likely token.": "## {title}\n一个只认识 {tokenizer.vocab_size} {units}的两层 GPT。可以问 '{examples[0]}'、'{examples[1]}' 或 '{examples[2]}'。温度为 0 时总是选最可能的词元。",
    "Chinese characters": "个汉字",
    "English words": "个英文词",
    "This tiny model knows only the {tokenizer.vocab_size} characters of its world (its training vocabulary); unknown: {', '.join(unknown[:8])}. Try '{tokenizer.examples[0]}', '{tokenizer.examples[1]}' or '{tokenizer.examples[2]}'.": "这个小模型只认识它的小世界里的 {tokenizer.vocab_size} 个字（它的训练词表），不认识：{', '.join(unknown[:8])}。试试 '{tokenizer.examples[0]}'、'{tokenizer.examples[1]}' 或 '{tokenizer.examples[2]}'。",
    "system prompt": "系统提示词",
    "temperature": "温度",
    "max tokens": "最大词元数",
    "type a message, e.g. {examples[0]}": "输入一条消息，例如 {examples[0]}",
}
