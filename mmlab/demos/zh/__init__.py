"""Chinese demo texts, one module per demo: ``ZH`` maps English text to Chinese (see mmlab.messages)."""
