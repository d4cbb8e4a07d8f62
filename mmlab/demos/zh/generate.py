"""Chinese texts of the generate demo (:mod:`mmlab.demos.generate`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "build_generate_demo needs an mmlab GPT model, got {type(model).__name__}",
    "the tokenizer needs encode(text) and decode(ids) methods",
    "max_tokens_limit must be >= 1, got {max_tokens_limit}",
}

ZH = {
    "{name} must be a number, got {str(value)[:20]}.": "{name}必须是数字，得到的是 {str(value)[:20]}。",
    "{name} must be a finite number, got {str(value)[:20]}.": "{name}必须是有限的数字，得到的是 {str(value)[:20]}。",
    "Temperature must be 0 or more (0 = always the most likely token), got {temperature}.": "温度必须大于或等于 0（0 = 总是选最可能的词元），得到的是 {temperature}。",
    "Top-k must be a whole number, 0 (off) or more, got {top_k_value}.": "Top-k 必须是大于或等于 0 的整数（0 = 关闭），得到的是 {top_k_value}。",
    "Top-p must be above 0 and at most 1 (1 = off), got {top_p}.": "Top-p 必须大于 0 且不超过 1（1 = 关闭），得到的是 {top_p}。",
    "Max tokens": "最大词元数",
    "Max tokens must be a whole number from 1 to {limit}, got {max_tokens_value}.": "最大词元数必须是 1 到 {limit} 之间的整数，得到的是 {max_tokens_value}。",
    "The prompt has characters this model never saw: {shown}.": "提示词里有这个模型从没见过的字符（它只认识训练文本中的字符）：{shown}。",
    "The prompt is empty: type a few words for the model to continue.": "提示词是空的：请输入几个词让模型接着写。",
    "The prompt is {len(prompt)} characters long; type at most {MAX_TEXT_CHARS}.": "提示词有 {len(prompt)} 个字符；最多输入 {MAX_TEXT_CHARS} 个。",
    "The prompt gave no tokens: type a few words for the model to continue.": "提示词没有得到任何词元：请输入几个词让模型接着写。",
    "Mini-GPT: text generation": "迷你 GPT：文本生成",
    "{count} tokens": "{count} 个词元",
    "Done: {count} tokens.": "完成：{count} 个词元。",
    "## {title}\nThe model continues your prompt one token at a time. Temperature 0 always picks the most likely token; top-k 0 and top-p 1 switch those filters off.": "## {title}\n模型一次一个词元地续写你的提示词。温度为 0 时总是选最可能的词元；top-k 设为 0、top-p 设为 1 会关闭这两个过滤器。",
    "prompt": "提示词",
    "Generate": "生成",
    "temperature": "温度",
    "top-k (0 = off)": "top-k（0 = 关闭）",
    "top-p (1 = off)": "top-p（1 = 关闭）",
    "max tokens (1 to {max_tokens_limit})": "最大词元数（1 到 {max_tokens_limit}）",
    "continuation": "续写",
}
