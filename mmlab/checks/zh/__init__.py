"""Chinese check messages, one module per lab: ``ZH`` maps English text to Chinese (see mmlab.messages)."""
