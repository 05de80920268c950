"""Uploads: a file posted to /api/uploads/ is saved through Django's default storage (MEDIA_ROOT)
and answered with the URL nginx serves it at (MEDIA_URL)."""
from django.core.files.storage import default_storage
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

UPLOADS_DIR = "uploads"


class UploadView(APIView):
    """POST a multipart form with a `file` field: 201 with its stored `name` and `url`."""

    parser_classes = [MultiPartParser]

    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["send the file as the multipart field `file`"]},
                            status=status.HTTP_400_BAD_REQUEST)
        # The storage picks a free name (a suffix when the name is taken): nothing is overwritten.
        name = default_storage.save(f"{UPLOADS_DIR}/{upload.name}", upload)
        return Response({"name": name, "url": default_storage.url(name)}, status=status.HTTP_201_CREATED)
