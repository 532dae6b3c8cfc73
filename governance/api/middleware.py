from django.conf import settings

from governance.api.errors import json_error


class BodySizeLimitMiddleware:
    """Refuse oversized API bodies with 413 before anything reads them.

    JSON bodies are limited by ``MAX_JSON_BODY_BYTES``; multipart uploads (evaluation data
    files, reference samples) by ``MAX_UPLOAD_BYTES``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return json_error(400, "parse_error", "Content-Length is not a number", "Content-Length")
            multipart = request.content_type.startswith("multipart/")
            limit = settings.MAX_UPLOAD_BYTES if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if length > limit:
                kind = "upload" if multipart else "JSON body"
                message = f"{kind} of {length} bytes exceeds the limit of {limit} bytes"
                return json_error(413, "payload_too_large", message)
        return self.get_response(request)
