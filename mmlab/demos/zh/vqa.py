"""Chinese texts of the vqa demo (:mod:`mmlab.demos.vqa`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # the model's own English world (its inputs, examples, prompt templates and replies)
    "what colour is the triangle?",
    "what shape is the red one?",
    "how many circles are there?",
    "is the red shape left of the square?",
}

ZH = {
    "The scene seed": "场景种子",
    "no picture yet: press 'new scene', upload an image or draw one.": "还没有图片：请按“新场景”、上传一张图片或画一张。",
    "question": "问题",
    "The number of answers": "答案个数",
    "the model does not know the word(s) {', '.join((repr(w) for w in unknown[:8]))}. It knows: {', '.join(vocab.itos[2:])}.": "模型不认识这些词：{', '.join((repr(w) for w in unknown[:8]))}。它只认识训练词表里的英文词：{', '.join(vocab.itos[2:])}。",
    "the question is too long: at most {vocab.max_len} words.": "问题太长了：最多 {vocab.max_len} 个词。",
    "mmlab: visual question answering": "mmlab：视觉问答",
    "## Ask a question about a scene\nPress **new scene**, upload a picture, or draw shapes in red, green and blue on the black canvas. Questions follow four patterns: {patterns}": "## 就一个场景提问\n按 **新场景**、上传一张图片，或在黑色画布上用红、绿、蓝三色画几个形状。问题只有四种句式：{patterns}",
    "the model was trained on four question patterns only (its training vocabulary), e.g. '{EXAMPLES_ZH[0]}', '{EXAMPLES_ZH[1]}', '{EXAMPLES_ZH[2]}' or '{EXAMPLES_ZH[3]}'.": "模型只学过四种句式的问题（它的训练词表），例如 '{EXAMPLES_ZH[0]}'、'{EXAMPLES_ZH[1]}'、'{EXAMPLES_ZH[2]}' 或 '{EXAMPLES_ZH[3]}'。",
    "The model was trained on English questions: it was asked '{english}'.": "这个模型是用英文问题训练的：按句式转成英文后，它被问的是 '{english}'。",
    "scene": "场景",
    "scene seed": "场景种子",
    "new scene": "新场景",
    "or upload a picture (PNG/JPEG)": "或上传一张图片（PNG/JPEG）",
    "answer": "回答",
    "answers": "答案",
    "where the question looked": "问题关注的位置",
}
