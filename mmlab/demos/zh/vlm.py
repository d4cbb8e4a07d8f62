"""Chinese texts of the vlm demo (:mod:`mmlab.demos.vlm`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "build_vlm_demo needs a MiniVLM, got {type(vlm).__name__}",
    # the model's own English world (its inputs, examples, prompt templates and replies)
    "what colour is the triangle?",
}

ZH = {
    "the model reads only the English words of its training vocabulary, not {''.join(foreign[:8])}. Try '{EXAMPLES[0]}'.": "模型只认识它训练词表里的英文词，读不懂“{''.join(foreign[:8])}”。试试 '{EXAMPLES[0]}'。",
    "no picture yet: press 'new scene' or upload a picture.": "还没有图片：请按“新场景”或上传一张图片。",
    "question": "问题",
    "the model does not know the word(s) {', '.join((repr(w) for w in unknown[:8]))}. It knows: {known}.": "模型不认识这些词：{', '.join((repr(w) for w in unknown[:8]))}。它只认识训练词表里的英文词：{known}。",
    "the question is too long: at most {room - 1} words.": "问题太长了：最多 {room - 1} 个词。",
    "mmlab: a mini vision-language model": "mmlab：迷你视觉语言模型",
    "## Ask the mini-VLM about a scene\nPress **new scene** or upload a picture, then ask. Questions follow four patterns: {patterns}": "## 就一个场景向迷你 VLM 提问\n按 **新场景** 或上传一张图片，然后提问。问题只有四种句式：{patterns}",
    "The model was trained on English questions: it was asked '{english}'.": "这个模型是用英文问题训练的：按句式转成英文后，它被问的是 '{english}'。",
    "scene": "场景",
    "scene seed": "场景种子",
    "new scene": "新场景",
    "or upload a picture (PNG/JPEG)": "或上传一张图片（PNG/JPEG）",
    "answer": "回答",
    "caption": "图像描述",
}
