# The seed's @rawhttp binary-data example, for scorehost.
#
# Changed from the seed: the import lines (Pillow is a C extension that cannot be bundled into
# a component; scorehost.pil reads PNG and JPEG sizes), and, as the Rust twin
# (plugins/image_size) does, a POST without an 'image' file or with bytes that are not an
# image gets 400 instead of an exception, and the size is sent as JSON.
from scorehost.rawhttp import AMLRequest, AMLResponse, rawhttp
from scorehost.pil import Image, UnidentifiedImageError


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
        try:
            image = Image.open(file_bytes).convert('RGB')
        except UnidentifiedImageError as e:
            return AMLResponse(f"'image' is not a PNG or JPEG image: {e}", 400)
        return AMLResponse(list(image.size), 200, json_str=True)
    else:
        return AMLResponse("bad request", 500)
