"""Search and recommendation (chapter 16): dense retrieval with MiniLM and FAISS, BM25, metrics."""
