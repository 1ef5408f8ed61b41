"""The REST API (``/api/v1``): signed-in users, three permission levels, OpenAPI.

``create_api_app(ApiConfig.from_settings(settings))`` builds the sub-app; give it
an ``async_sessionmaker`` directly or set ``SESSIONMAKER`` on the parent app.
"""

from agent_console.api.app import create_api_app
from agent_console.api.auth import ApiConfig, AuthState, hash_password
from agent_console.api.routing import SESSIONMAKER

__all__ = ["SESSIONMAKER", "ApiConfig", "AuthState", "create_api_app", "hash_password"]
