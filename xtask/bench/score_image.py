# The seed's @rawhttp image example for the Azure ML scoring server, as the benchmark runs it.
import json

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse
from PIL import Image


def init():
    pass


@rawhttp
def run(request):
    if request.method == "GET":
        return AMLResponse(str.encode(request.full_path), 200)
    elif request.method == "POST":
        image = Image.open(request.files["image"]).convert("RGB")
        return AMLResponse(json.dumps(image.size), 200)
    return AMLResponse("bad request", 500)
