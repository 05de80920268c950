"""Django's JSON Lines fixtures without their loss: datetimes and times keep their microseconds.

JSON Lines because loaddata reads them a line at a time (a JSON fixture is parsed whole, in
memory, on a 1 GiB host). DjangoJSONEncoder writes milliseconds only (ECMA-262's date format),
so a round trip through dumpdata/loaddata would change every timestamp that has microseconds.
The import's settings put this module in place of the `jsonl` format (SERIALIZATION_MODULES);
reading is Django's own.
"""
import datetime

from django.core.serializers import jsonl as django_jsonl
from django.core.serializers.json import DjangoJSONEncoder
from django.core.serializers.jsonl import Deserializer

__all__ = ["Serializer", "Deserializer"]   # a serialization format is a module with both


class FullPrecisionEncoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, datetime.datetime):
            text = o.isoformat()
            return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
        if isinstance(o, datetime.time) and o.utcoffset() is None:
            return o.isoformat()
        return super().default(o)


class Serializer(django_jsonl.Serializer):
    def _init_options(self):
        super()._init_options()
        self.json_kwargs["cls"] = FullPrecisionEncoder
