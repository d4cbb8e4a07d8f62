"""Chinese texts of the core demo (:mod:`mmlab.demos.core`); see :mod:`mmlab.messages`."""

NOT_MESSAGES = {
    # English halves of en_zh(english, chinese) pairs: their Chinese is written next to them
    " from {low} to {high}",
    ", {low} or more",
    # a repr for programmers
    "DemoHandle({state} at {self.url})",
    # errors for the programmer building the demo (TypeError / ValueError, in English like Python's own)
    "show() takes a Gradio Blocks app (from a build_*() function), got {type(app).__name__}",
}

ZH = {
    "The picture is {image.width} x {image.height} pixels; the demo takes at most {MAX_PIXELS} pixels. Use a smaller picture.": "图片有 {image.width} x {image.height} 像素；这个演示最多接受 {MAX_PIXELS} 像素。请换一张小一点的图片。",
    "'{name}' is not a picture this demo can read (empty, cut short or not an image): upload a PNG or JPEG.": "'{name}' 不是这个演示能读取的图片（空文件、不完整或不是图像）：请上传 PNG 或 JPEG。",
    "The picture could not be read: draw, pick or upload one.": "读不出这张图片：请画一张、选一张或上传一张。",
    "The request is too large (more than {MAX_REQUEST_ITEMS} values).": "请求太大了（超过 {MAX_REQUEST_ITEMS} 个值）。",
    "A text in the request is {len(item)} characters long; the demo takes at most {MAX_TEXT_CHARS}.": "请求中的一段文本有 {len(item)} 个字符；这个演示最多接受 {MAX_TEXT_CHARS} 个。",
    "Pictures and files reach this demo only through its upload box; a path on the server is refused.": "图片和文件只能通过演示的上传框传入；服务器上的路径会被拒绝。",
    "The picture is far bigger than the {MAX_PIXELS} pixels this demo takes.": "图片远远超过这个演示能接受的 {MAX_PIXELS} 像素。",
    "The demo could not handle this request: use the app's controls (or press Clear) and try again.": "演示处理不了这个请求：请使用应用里的控件（或按 Clear），再试一次。",
    "An input has the wrong type or form for this demo (for example text where a number goes, or a file that is not an image). Use the app's controls and try again.": "有一个输入的类型或格式不适合这个演示（例如该填数字的地方填了文本，或文件不是图像）。请使用应用里的控件，再试一次。",
}
