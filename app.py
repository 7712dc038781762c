#!/usr/bin/env python
"""The web demo (Gradio): upload a photo or use the webcam, see every face labelled with its emotion.

`python app.py` is `fer-hf demo`; a Hugging Face Space with the Gradio SDK runs this file as it is.
"""

from fer_hf.app import build_demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch()
