#!/usr/bin/python3
"""The usual alternative to visiongate, for scripts/bench part 3.

The classic Flask + OpenCV MJPEG pattern, as tutorials write it: one Flask
app (threaded=True), one cv2.VideoCapture on the clip (rewound at its end),
and for each viewer request a generator that reads the next frame, runs
OpenCV's HOG people detector on it, draws the boxes, encodes a JPEG at
quality 70 and yields it as the next multipart part. Nothing paces the
file: a viewer gets frames as fast as read + detect + encode allow, and
viewers share the capture, so they divide its frames between them.

    flask_app.py --clip vtest.avi --port 5000   →  GET /video_feed
"""

import argparse
import logging
import threading

import cv2
from flask import Flask, Response

parser = argparse.ArgumentParser()
parser.add_argument("--clip", required=True)
parser.add_argument("--port", type=int, default=5000)
args = parser.parse_args()

app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.ERROR)

camera = cv2.VideoCapture(args.clip)
camera_lock = threading.Lock()  # VideoCapture is not thread-safe
hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())


def read_frame():
    with camera_lock:
        ok, frame = camera.read()
        if not ok:  # end of the clip: loop
            camera.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = camera.read()
    return frame if ok else None


def gen_frames():
    while True:
        frame = read_frame()
        if frame is None:
            break
        boxes, _ = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
        for (x, y, w, h) in boxes:
            cv2.rectangle(frame, (int(x), int(y)), (int(x + w), int(y + h)), (0, 255, 0), 2)
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
        if not ok:
            continue
        yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg.tobytes() + b"\r\n"


@app.route("/video_feed")
def video_feed():
    return Response(gen_frames(), mimetype="multipart/x-mixed-replace; boundary=frame")


@app.route("/")
def index():
    return "ok\n"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=args.port, threaded=True)
