"""Chinese texts of the shop assistant demo (:mod:`mmlab.demos.assistant`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "build_assistant_demo needs an mmlab Assistant with a retriever",
}

ZH = {
    "top score {answer.score} < threshold {threshold}: the assistant says it does not know": "最高分 {answer.score} < 阈值 {threshold}：助手回答它不知道",
    "top score {answer.score} ≥ threshold {threshold}: the reader answers from the top passage": "最高分 {answer.score} ≥ 阈值 {threshold}：阅读器根据得分最高的段落作答",
    "| cosine | passage | |": "| 余弦 | 段落 | |",
    "Shop assistant (RAG)": "商店客服助手（RAG）",
    "### {title}\nAsk about a product (kettle, toaster, blender, lamp, heater, speaker, camera, backpack: price, warranty, colour, weight, delivery) or a policy (returns, refunds, cancelling, shipping from).": "### {title}\n用英文询问商品（kettle、toaster、blender、lamp、heater、speaker、camera、backpack：价格 price、保修 warranty、颜色 colour、重量 weight、送货 delivery），或询问店铺的售后策略（退货 returns、退款 refunds、取消订单 cancelling、发货地 shipping from）。",
    "The retrieved passages appear here.": "检索到的段落会显示在这里。",
    "chat with the assistant": "与助手对话",
    "type a question, e.g. how heavy is the kettle": "输入一个英文问题，例如 how heavy is the kettle",
}
