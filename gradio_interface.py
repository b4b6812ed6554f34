"""The Gradio page: draw or upload a digit (or a number), see what the model saw and how sure it is.

    python gradio_interface.py               # http://127.0.0.1:7860
    python gradio_interface.py --port 7861   # or GRADIO_SERVER_PORT=7861

While you draw, the page shows the top 3 digits (gr.Label) and, beside them,
the 28x28 image the model actually received, enlarged: most mistakes make
sense once you see what the preprocessing made of the drawing. A blank canvas
gets a note instead of a guess. Several digits side by side ("42") are read as
a number (utils.read_number, as POST /read): the page shows the number, each
digit's box on the picture and the 28x28 image of each. A picture that is not
all digits is answered as one picture, as before.

The page also serves one API endpoint, `/predict`: the sketchpad value in, the
label value out (an optional second argument picks the preprocessing):

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    client.predict({"background": None, "layers": [], "composite": handle_file("examples/mnist_7.png")},
                   api_name="/predict")
    # {'label': '7', 'confidences': [{'label': '7', 'confidence': 0.99}, ...]}

It works offline: no telemetry, version check, share link, web fonts or CDN
scripts (tests/test_gradio_interface_browser.py checks that the page requests nothing beyond
127.0.0.1).
"""
import argparse
import os
import sys

# Gradio reads this when it is imported: no telemetry and no version check
# (both would call api.gradio.app).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import config  # noqa: E402
from mnist_digits.errors import DigitError, ModelFileError  # noqa: E402
from mnist_digits.imaging.preprocessing import PREPROCESS_MODES, preprocess_image  # noqa: E402
from mnist_digits.reading.reader import read_with_views  # noqa: E402
from utils import get_predictor  # noqa: E402

# Preprocessing scales the digit to 20x20, so only the stroke width relative to
# the digit's height matters. MNIST strokes are ~1/7 of the height; a brush of
# radius 20 px draws 40 px strokes, 1/7 of a digit drawn 280 px tall on the
# 400 px canvas.
CANVAS_SIZE = 400
BRUSH_RADIUS = CANVAS_SIZE // 20
MODEL_VIEW_SCALE = 10

NO_DIGIT = ("**No digit found.** The picture looks blank to the model: "
            "draw a digit (thick, dark strokes) or upload a photo of one.")
NOT_A_DIGIT = ("**This does not look like a digit.** Above is the model's best guess anyway, "
               "and below what it saw.")
TOP_3 = "Prediction (top 3)"
BOX_COLOUR = (0, 160, 60)

# System fonts only: a theme that names a Google Font would fetch it from the web.
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "Consolas", "Menlo", "monospace"],
)
CSS = "#model-view img { image-rendering: pixelated; }"  # keep the 28x28 pixels square
# Gradio's sketchpad starts, and restarts after every clear, with no tool
# selected ("select the draw tool to start"). This picks the brush as soon as
# no tool is selected (polling ~3 s, since the reset happens a moment after the
# clear), so drawing works at once; a tool the user picked is left alone.
PICK_BRUSH_JS = """() => {
  let triesLeft = 30;
  const attempt = () => {
    const pad = document.querySelector('#sketchpad');
    const brush = pad && pad.querySelector('button[aria-label="Brush"]');
    const toolPicked = pad && pad.querySelector(
      'button[aria-label="Brush"].highlight, button[aria-label="Erase"].highlight');
    if (brush && !toolPicked) brush.click();
    else if (--triesLeft > 0) setTimeout(attempt, 100);
  };
  attempt();
}"""

# Clear empties the sketchpad by setting its value to None, but a second Clear in a
# row sets None again, which Gradio sees as no change, and the old strokes stay on the
# canvas. The sketchpad's own "Clear canvas" button always empties it. It runs before
# the server's None arrives: that None fires the sketchpad's change, whose value Gradio
# reads off the canvas, and a canvas not yet emptied would send the old drawing again.
CLEAR_CANVAS_JS = """() => {
  const bin = document.querySelector('#sketchpad button[aria-label="Clear canvas"]');
  if (bin) bin.click();
}"""

# For a sketchpad change, Gradio reads the drawing off the canvas and uploads it as PNGs
# before it sends the change; other events go meanwhile. So a change read just before a
# Clear (often the repeat that trigger_mode="always_last" sends when an answer lands) could
# reach the server after Clear's, and after the next upload's, and be answered last: the
# cleared drawing's answer on show, and in `picture` for the mode switch. When such a change
# is sent, the canvas has been emptied since it was read (no Undo, no Redo: nothing drawn
# since), so it is sent as None instead, which answer_drawing skips. (Buttons not found:
# nothing is withdrawn.)
STALE_DRAWING_JS = """(drawing, mode) => {
  const off = (name) => document.querySelector(`#sketchpad button[aria-label="${name}"]`)?.disabled;
  const drawn = drawing && (drawing.id || drawing.composite || drawing.background);
  return [drawn && off("Undo") && off("Redo") ? null : drawing, mode];
}"""
# Every event that writes the answer and `picture` waits in this one queue, so they are
# applied in the order the page sent them (a mode switch after the upload it re-answers,
# an upload after Clear), not in the order their workers happen to finish. One worker,
# as each of them already had on its own (Gradio's default concurrency limit is 1).
ANSWERS = "answers"


# --- Prediction ------------------------------------------------------------------
def picture_of(value):
    """The image in an input value: the sketchpad's dict {"background", "layers",
    "composite"} gives its composite (background plus strokes), else its
    background; an upload is the image itself. None when there is nothing."""
    if isinstance(value, dict):
        composite = value.get("composite")
        return composite if composite is not None else value.get("background")
    return value


def model_view(x):
    """The (28, 28, 1) model input as a picture, enlarged without smoothing."""
    pixels = (np.asarray(x)[..., 0] * 255).round().astype(np.uint8)
    size = config.IMAGE_SIZE * MODEL_VIEW_SCALE
    return Image.fromarray(pixels).resize((size, size), Image.NEAREST)


def classify(image, mode):
    """-> ({digit: probability} for all ten digits, the model input as a picture,
    whether it looks like a digit at all).

    The picture is the very array the model is called with, not a re-rendering.
    """
    predictor = get_predictor()
    x = preprocess_image(image, mode)
    probabilities, scores = predictor.predict_scores(x)
    label = {str(digit): float(p) for digit, p in enumerate(probabilities[0])}
    return label, model_view(x), bool(predictor.is_digit(scores)[0])


def boxes_drawn(image, digits):
    """The picture with each digit's box and answer drawn on it."""
    from PIL import ImageDraw
    shown = Image.new("RGBA", image.size, "white")   # a drawing's transparent paper is white
    shown.alpha_composite(image.convert("RGBA"))
    shown = shown.convert("RGB")
    draw = ImageDraw.Draw(shown)
    width = max(2, max(shown.size) // 200)
    for digit in digits:
        x, y, w, h = digit["box"]
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=BOX_COLOUR, width=width)
        draw.text((x + width, y + width), str(digit["prediction"]), fill=BOX_COLOUR)
    return shown


def read_page(image):
    """The picture read as a number -> (reading, each digit's view), or None when it is
    one digit or not a number (the one-digit answer then applies: a "#" is one symbol
    that is not a digit, not a number with a doubtful part)."""
    try:
        reading, views = read_with_views(image, get_predictor())
    except DigitError:   # blank, crowded or thin: the one-digit path says why, or answers
        return None
    return (reading, views) if len(reading["digits"]) > 1 and reading["is_number"] else None


def number_outputs(image, reading, views):
    """The page's outputs for a number: its label, the boxes, each digit's view, the note."""
    label = gr.Label({reading["number"]: reading["confidence"]}, label="Number read (its confidence)")
    gallery = [(model_view(v), f"{d['prediction']} ({d['confidence']:.2f})") for v, d in zip(views, reading["digits"])]
    return (label, None, gr.Markdown("", visible=False),
            gr.Image(boxes_drawn(image, reading["digits"]), visible=True), gr.Gallery(gallery, visible=True))


def predict_page(image, mode):
    """Live handler of the page: (picture kept for the mode switch, label, model view, note,
    boxes on the picture, each digit's view). A number fills the last two; one digit hides them."""
    image = picture_of(image)
    hidden = (gr.Image(None, visible=False), gr.Gallery(None, visible=False))
    if image is None:  # cleared: empty answer, no note
        return None, gr.Label(None, label=TOP_3), None, gr.Markdown("", visible=False), *hidden
    number = read_page(image)
    if number is not None:
        return image, *number_outputs(image, *number)
    try:
        label, seen, is_digit = classify(image, mode)
    except DigitError as exc:  # NoDigitFound, InvalidImage, PayloadTooLarge: say so, never guess
        note = NO_DIGIT if exc.code == "no_digit_found" else f"**Cannot read this image:** {exc}"
        return image, gr.Label(None, label=TOP_3), None, gr.Markdown(note, visible=True), *hidden
    # Not a digit: say so plainly, and still show the best guess and what the model saw.
    return image, gr.Label(label, label=TOP_3), seen, gr.Markdown(NOT_A_DIGIT, visible=not is_digit), *hidden


def answer_drawing(drawing, mode):
    """Live handler of the sketchpad: predict_page's answer, or no change at all for a drawing
    the page withdrew (None; the sketchpad's own empty value is a dict of Nones), see
    STALE_DRAWING_JS."""
    if drawing is None:
        return gr.skip()
    return predict_page(drawing, mode)


def predict_api(image, mode):
    """`/predict`: the sketchpad value -> the label value. Bad input raises a
    gr.Error, which gradio_client raises as an AppError with this message."""
    image = picture_of(image)
    if image is None:
        raise gr.Error('no image: send {"background": None, "layers": [], '
                       '"composite": handle_file("examples/mnist_7.png")}', print_exception=False)
    try:
        return classify(image, mode)[0]
    except DigitError as exc:
        raise gr.Error(f"{exc.code}: {exc}", print_exception=False) from None


# --- Page ------------------------------------------------------------------------
def example_files():
    return [str(path) for path in sorted(config.EXAMPLES_DIR.glob("*.png"))]


INTRO = ("# Handwritten digit classifier\n"
         "Draw a digit with the mouse or a finger, or upload a photo of one. "
         "The model answers while you draw; on the right is the 28×28 image it "
         "actually received. Write several digits side by side and it reads the number.")


def build_demo():
    """The page (loads the shared predictor first, so a missing model fails at start-up)."""
    get_predictor()
    with gr.Blocks(title="Handwritten digit classifier", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        picture = gr.State(None)  # the last drawn or uploaded picture, for the mode switch
        with gr.Row():
            with gr.Column(scale=3):
                page = input_widgets()
            with gr.Column(scale=2):
                page.update(output_widgets())
        gr.Examples(example_files(), inputs=page["upload"], label="Examples (click one)",
                    elem_id="examples")
        wire_live_answers(picture, page)
        wire_clear(picture, page)
        # The public API: an event with no trigger on the page, so it answers
        # with the label alone (the page's handler also returns the picture and note).
        gr.on(triggers=[], fn=predict_api, inputs=[page["sketchpad"], page["mode"]], outputs=page["label"],
              api_name="predict", api_description="Classify the digit in an image-editor value.")
    return demo


def input_widgets():
    """The left column: the Draw and Upload tabs, the preprocessing switch, Clear -> {name: component}."""
    with gr.Tabs() as tabs:
        with gr.Tab("Draw", id="draw"):
            sketchpad = gr.Sketchpad(
                label="Draw a digit (or a number)", elem_id="sketchpad", type="pil", height=480,
                image_mode="RGBA", canvas_size=(CANVAS_SIZE, CANVAS_SIZE),
                fixed_canvas=True, layers=False, transforms=(),
                brush=gr.Brush(default_size=BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
                buttons=[])
        with gr.Tab("Upload", id="upload"):
            upload = gr.Image(label="Upload a photo or scan", elem_id="upload",
                              type="pil", image_mode=None, sources=["upload", "clipboard"])
    with gr.Row():
        mode = gr.Radio(list(PREPROCESS_MODES), value="enhanced", label="Preprocessing", elem_id="mode",
                        info="enhanced: crop, centre and scale like MNIST; "
                             "basic: plain resize (the naive baseline)")
        clear = gr.Button("Clear", elem_id="clear", variant="secondary")
    return dict(tabs=tabs, sketchpad=sketchpad, upload=upload, mode=mode, clear=clear)


def output_widgets():
    """The right column: the label, the note, what the model saw and, for a number,
    the boxes and each digit's view -> {name: component}."""
    label = gr.Label(num_top_classes=config.TOP_K, label=TOP_3, elem_id="prediction")
    note = gr.Markdown(visible=False, elem_id="note")
    seen = gr.Image(label="What the model saw (28×28, enlarged)", elem_id="model-view", type="pil",
                    format="png", interactive=False, buttons=[])
    boxes = gr.Image(label="The digits found", elem_id="number-boxes", type="pil", format="png",
                     interactive=False, buttons=[], visible=False)
    views = gr.Gallery(label="What the model saw of each digit (28×28)", elem_id="digit-views",
                       columns=8, height="auto", object_fit="contain", visible=False)
    return dict(label=label, note=note, seen=seen, boxes=boxes, views=views)


def wire_live_answers(picture, page):
    """Answer on every stroke, upload and mode switch (the latest only, no spinner)."""
    outputs = [picture, page["label"], page["seen"], page["note"], page["boxes"], page["views"]]
    live = dict(outputs=outputs, api_visibility="private", show_progress="hidden",
                trigger_mode="always_last", concurrency_id=ANSWERS)
    page["sketchpad"].change(answer_drawing, inputs=[page["sketchpad"], page["mode"]], js=STALE_DRAWING_JS,
                             **live)
    page["upload"].change(predict_page, inputs=[page["upload"], page["mode"]], **live)
    page["mode"].change(predict_page, inputs=[picture, page["mode"]], **live)
    # An example lands in the upload box: show that tab.
    page["upload"].change(lambda value: gr.Tabs(selected="upload") if value is not None else gr.Tabs(),
                          inputs=page["upload"], outputs=page["tabs"], api_visibility="private",
                          show_progress="hidden")


def wire_clear(picture, page):
    """Clear empties both inputs and every answer, then re-picks the brush (see the JS above)."""
    page["clear"].click(
        lambda: (None, None, None, gr.Label(None, label=TOP_3), None, gr.Markdown("", visible=False),
                 gr.Image(None, visible=False), gr.Gallery(None, visible=False)),
        outputs=[page["sketchpad"], page["upload"], picture, page["label"], page["seen"], page["note"],
                 page["boxes"], page["views"]],
        js=CLEAR_CANVAS_JS, api_visibility="private", show_progress="hidden", concurrency_id=ANSWERS
    ).then(None, js=PICK_BRUSH_JS)
    page["sketchpad"].clear(None, js=PICK_BRUSH_JS)  # the sketchpad's own bin button


def launch(demo, host=None, port=None, **kwargs):
    """Start the server with everything that reaches the internet switched off; -> local URL."""
    # Quiet: Gradio's own start-up text suggests share=True, which this page never uses.
    kwargs.setdefault("quiet", True)
    _, url, _ = demo.launch(
        server_name=host or config.GRADIO_HOST,
        server_port=port or config.GRADIO_PORT,
        max_file_size=config.MAX_REQUEST_BYTES,  # uploads over the limit are refused
        # Gradio decodes images before predict_api sees them: without this, an
        # undecodable file reaches the client as an unexplained "upstream error".
        show_error=True,
        share=False, ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
        footer_links=["api"], theme=THEME, css=CSS, js=PICK_BRUSH_JS, **kwargs)
    return url


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=config.GRADIO_PORT,
                        help="port to serve on (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=config.GRADIO_HOST,
                        help="address to bind (default: GRADIO_SERVER_NAME, HOST or 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    try:
        demo = build_demo()
    except ModelFileError as exc:
        sys.exit(f"error: {exc}")
    try:
        url = launch(demo, args.host, args.port, prevent_thread_lock=True)
    except OSError as exc:  # port taken, address not available
        sys.exit(f"error: cannot serve on {args.host}:{args.port}: {exc}")
    print(f"Drawing page on {url} (Ctrl+C to stop)", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
