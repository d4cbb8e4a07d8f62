"""Chinese texts of the speech demo (:mod:`mmlab.demos.speech`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "build_speech_demo needs an mmlab CTCRecogniser, got {type(recogniser).__name__}",
    # the model's own English world (its inputs, examples, prompt templates and replies)
    "okay, {parsed[0]} the {parsed[2]} {parsed[1]}",
    "sorry, say that again",
    "turn on the kitchen light",
    # matplotlib axis labels: the default font has no Chinese glyphs
    "frame (11.6 ms)",
    "mel band",
}

ZH = {
    "'{name}' has {channels} channels (stereo); the recogniser takes one channel: record or save the file in mono.": "'{name}' 有 {channels} 个声道（立体声）；识别器只接受单声道：请用单声道录音或保存文件。",
    "'{name}' has {8 * width}-bit samples; save it as 16-bit PCM WAV.": "'{name}' 是 {8 * width} 位采样；请保存为 16 位 PCM WAV。",
    "'{name}' is sampled at {rate} Hz; this demo takes {', '.join((f'{r:,}' for r in RATES))} Hz.": "'{name}' 的采样率是 {rate} Hz；这个演示接受 {', '.join((f'{r:,}' for r in RATES))} Hz。",
    "'{name}' is {n / rate} s long; say one command, at most {MAX_SECONDS} s.": "'{name}' 长 {n / rate} 秒；请说一条命令，最长 {MAX_SECONDS} 秒。",
    "'{name}' is not a WAV file this demo can read ({str(err)[:60]}): upload a .wav.": "'{name}' 不是这个演示能读取的 WAV 文件（{str(err)[:60]}）：请上传 .wav 文件。",
    "The recording is {seconds} s long: say a whole command (about a second).": "录音长 {seconds} 秒：请说一条完整的命令（大约一秒）。",
    "The recording is silent: check the microphone and speak closer to it.": "录音是无声的：请检查麦克风，靠近一点说话。",
    "The recording is clipped (too loud): move back from the microphone or lower its gain.": "录音削波了（太响）：离麦克风远一点，或调低增益。",
    "not a command of the grammar (action + the + place + device)": "不是语法中的命令（action + the + place + device）",
    "{action} → {device} in the {place}": "{action} → {place} 的 {device}",
    "Speech: hear a command, answer it": "语音：听懂一条命令并回答",
    "No audio yet: record a command or upload a WAV file.": "还没有音频：请录一条命令或上传一个 WAV 文件。",
    "The audio could not be read: record or upload it with the audio box.": "读不出这段音频：请用音频框录音或上传。",
    "Heard and answered.": "已听到并回答。",
    "command": "命令",
    "Type the command in English letters only (no digits or punctuation).": "命令只能用英文字母输入（模型只认识它训练词表里的英文词；不能有数字或标点）。",
    "Said {words} with room noise ({DEMO_SNR_DB} dB).": "合成了 {words}，带房间噪声（{DEMO_SNR_DB} dB）。",
    "### {title}\nType a command and press **Say it**, or record or upload a mono 16-bit WAV (up to {MAX_SECONDS} s): the CTC recogniser transcribes it and the assistant answers.": "### {title}\n输入一条英文命令并按 **说出来**，或录制/上传一个单声道 16 位 WAV（最长 {MAX_SECONDS} 秒）：CTC 识别器把它转写成文字，助手再回答。",
    "type a command": "输入一条命令",
    "Say it": "说出来",
    "or record / upload": "或录音 / 上传",
    "Recognise": "识别",
    "what was said": "识别出的内容",
    "transcript": "转写",
    "waveform and log-mel": "波形和对数梅尔谱",
    "the reply": "回复",
}
