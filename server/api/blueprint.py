"""The API's blueprint class: flask-smorest's, with a JSON parser that refuses hostile
bodies as the client's fault (400), not the server's (500)."""

from __future__ import annotations

import json
import typing

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser


class JsonParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # json.loads recurses once a level: a body nested ~1,000 deep exhausts the stack.
            flask.abort(400, description="The JSON body is nested too deeply.")
        except json.JSONDecodeError:
            raise  # webargs answers it (400, "Invalid JSON body.")
        except ValueError:
            # An integer literal past Python's digit limit (4,300 by default) makes
            # json.loads raise ValueError, not JSONDecodeError.
            flask.abort(400, description="The JSON body holds a number too long to read.")


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JsonParser()

    def arguments(self, schema: typing.Any, *args: typing.Any, **kwargs: typing.Any
                  ) -> typing.Any:
        # Given a class, webargs builds a schema (deep-copying its fields) on every
        # request; one instance, built here, serves them all.
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
