"""GET /v1/tools: every registered service tool with its models and parameter schema."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...service.media import MEDIA
from ...service.tools import TOOLS, ServiceTool
from ..auth import Caller, authenticate
from ..errors import ApiError, responses
from ..schemas import InputOut, ModelOut, ToolOut

router = APIRouter(prefix="/v1/tools", tags=["tools"])


def tool_out(tool: ServiceTool) -> ToolOut:
    models = [ModelOut(name=m.name, summary=m.summary, kind=m.kind, details=m.details) for m in tool.model_infos()]
    return ToolOut(name=tool.name, title=tool.title, summary=tool.summary, takes_images=tool.takes_images,
                   inputs=tool_inputs(tool), models=models, params_schema=tool.Params.model_json_schema())


def tool_inputs(tool: ServiceTool) -> list[InputOut]:
    """The tool's named inputs (``ServiceTool.inputs``), each with the media types its kind accepts."""
    return [InputOut(name=spec.name, title=spec.title, media=spec.media,
                     media_types=list(MEDIA.get(spec.media).media_types), many=spec.many,
                     description=spec.description) for spec in tool.inputs]


@router.get("", response_model=list[ToolOut], responses=responses(401, 429))
def list_tools(caller: Caller = Depends(authenticate)) -> list[ToolOut]:
    """Every tool with at least one model, its models and the JSON schema of its parameters."""
    return [out for out in (tool_out(TOOLS.get(n)) for n in TOOLS.names()) if out.models]


@router.get("/{name}", response_model=ToolOut, responses=responses(401, 404, 429))
def get_tool(name: str, caller: Caller = Depends(authenticate)) -> ToolOut:
    if name not in TOOLS:
        raise ApiError(404, "not_found", f"no tool '{name}'; known: {', '.join(TOOLS.names())}")
    return tool_out(TOOLS.get(name))
