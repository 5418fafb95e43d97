# A Flask application as FC's Python HTTP handler (WSGI): runs unchanged on Function Compute and on
# Nimbus. `nimbus deploy` installs Flask from requirements.txt into the package.
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def hello():
    name = request.args.get("name", "world")
    app.logger.info("saying hello to %s", name)
    return jsonify(hello=name, requestId=request.environ["fc.context"].request_id)


@app.post("/echo")
def echo():
    return jsonify(method=request.method, path=request.path, json=request.get_json(silent=True)), 201
