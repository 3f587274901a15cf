# The seed's @rawhttp binary-data example (GET echoes full_path, POST multipart 'image' -> size).
# Deviation from the seed (per brief): POST without an 'image' file -> 400; other methods -> 500 as in seed.
# Exceptions (e.g. a non-image upload) propagate to the server (-> 500 from the server).
from scorehost.rawhttp import AMLRequest, rawhttp
from scorehost.rawhttp import AMLResponse
from scorehost.pil import Image
import json


def init():
    print("This is init()")


@rawhttp
def run(request):
    print("This is run()")

    if request.method == 'GET':
        respBody = str.encode(request.full_path)
        return AMLResponse(respBody, 200)
    elif request.method == 'POST':
        if "image" not in request.files:
            return AMLResponse("missing multipart file 'image'", 400)
        file_bytes = request.files["image"]
        image = Image.open(file_bytes).convert('RGB')
        return AMLResponse(json.dumps(image.size), 200)
    else:
        return AMLResponse("bad request", 500)
