"""Chinese texts of the search and recommendation demo (:mod:`mmlab.demos.search`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # the model's own English world: a query over Python's (English) documentation
    "how do I leave a loop early",
}

ZH = {
    "Method must be one of {', '.join(METHODS)}, got {str(method)[:20]}.": "方法必须是 {', '.join(METHODS)} 之一，得到的是 {str(method)[:20]}。",
    "Results": "结果数",
    "query": "查询",
    "| # | score | section | text |\n|---|---|---|---|\n": "| # | 得分 | 章节 | 文本 |\n|---|---|---|---|\n",
    "User": "用户",
    "- (nothing yet)": "- （还没有）",
    "\n- … and {len(seen) - 12} more": "\n- … 还有 {len(seen) - 12} 条",
    "Search and recommendation": "搜索与推荐",
    "hybrid (BM25 + dense)": "混合检索（BM25 + 稠密向量）",
    "dense (MiniLM embeddings)": "稠密检索（MiniLM 嵌入）",
    "BM25 (word matches)": "BM25（词语匹配）",
    "### {title} (by words, by meaning or both)": "### {title}（按词语、按语义或两者结合）",
    "{method}: {table.count(chr(10)) - 1} results from {len(engine.passages)} sections.": "{method}：从 {len(engine.passages)} 个章节中找到 {table.count(chr(10)) - 1} 条结果。",
    "User {int(float(user))}: {picks.count(chr(10)) + 1} recommendations.": "用户 {int(float(user))}：{picks.count(chr(10)) + 1} 条推荐。",
    "method": "方法",
    "results (1 to {MAX_K})": "结果数（1 到 {MAX_K}）",
    "Search": "搜索",
    "user (0 to {recommendations.scores.shape[0] - 1})": "用户（0 到 {recommendations.scores.shape[0] - 1}）",
    "Recommend": "推荐",
    "history": "历史记录",
    "recommended": "推荐结果",
}
