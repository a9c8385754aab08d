"""The canvas WebSocket's messages: every frame is ``{"type": ..., "payload": ...}``, one
discriminated union each way.

``CanvasServerMessage`` and ``CanvasClientMessage`` are published in the OpenAPI document's
components (the server's as it sends them, the client's as the server reads them), so the
frontend's socket code is typed from the same definitions (``make api-types``).
Payloads carry the REST shapes where they are the same entity (``CanvasNodeOut``,
``PendingChangeOut``...). Service, deployment and container notices forward their event's payload,
whose fields beyond the declared ones may grow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, RootModel
from typing_extensions import TypedDict

from deploykit.deployment import DeploymentStatus
from deploykit.service import ServiceStatus
from deploykit_http.models import ServiceCreateIn
from deploykit_http.shapes.staging import ApplyResultOut, CanvasEdgeOut, CanvasNodeOut, PendingChangeOut

OPEN = ConfigDict(extra="allow")
"""Payloads that forward an event or a client's draft: fields beyond the declared ones pass."""

# --- payloads -------------------------------------------------------------------------------------


class Presence(TypedDict):
    user_id: str
    user_name: str
    email: str


class Draft(TypedDict):
    """A service someone is drafting in the add-service dialog, as that client last sent it."""

    __pydantic_config__ = OPEN  # type: ignore[misc]
    draft_id: str
    user_id: str
    user_name: str
    name: NotRequired[str]
    x: NotRequired[float]
    y: NotRequired[float]


class NodePosition(TypedDict):
    id: str
    position_x: float
    position_y: float


class Id(TypedDict):
    id: str


class DraftId(TypedDict):
    draft_id: str


class CanvasState(TypedDict):
    nodes: list[CanvasNodeOut]
    edges: list[CanvasEdgeOut]


class UsersList(TypedDict):
    users: list[Presence]


class Drafts(TypedDict):
    drafts: list[Draft]


class PendingChangesState(TypedDict):
    changes: list[PendingChangeOut]


class PendingChangesRemoved(TypedDict):
    ids: list[str]


class Empty(TypedDict):
    pass


class Applied(ApplyResultOut):
    user_id: NotRequired[str | None]
    """Who pressed Deploy."""


class NodesMoved(TypedDict):
    positions: list[NodePosition]
    user_id: str


class CursorUpdated(TypedDict):
    user_id: str
    user_name: str
    x: float
    y: float


class ServiceCreated(TypedDict):
    """To the sender of ``service:create`` only."""

    draft_id: str
    temp_id: str
    change: PendingChangeOut
    node: CanvasNodeOut | None


class ServiceNotice(TypedDict):
    __pydantic_config__ = OPEN  # type: ignore[misc]
    service_id: str
    project_id: str
    name: NotRequired[str]
    slug: NotRequired[str]


class ServiceStatusChanged(TypedDict):
    __pydantic_config__ = OPEN  # type: ignore[misc]
    service_id: str
    project_id: str
    status: ServiceStatus
    previous: ServiceStatus


class DeploymentNotice(TypedDict):
    __pydantic_config__ = OPEN  # type: ignore[misc]
    service_id: str
    project_id: str
    deployment_id: str
    status: DeploymentStatus


class ContainerNotice(TypedDict):
    __pydantic_config__ = OPEN  # type: ignore[misc]
    service_id: str
    project_id: str
    container_id: str
    name: str
    deployment_id: str


class ErrorNotice(TypedDict):
    message: str
    type: NotRequired[str]
    """The type of the message that failed."""
    fields: NotRequired[dict[str, list[str]]]


# --- server -> client -----------------------------------------------------------------------------


class CanvasStateMessage(TypedDict):
    type: Literal["canvas:state"]
    payload: CanvasState


class UsersListMessage(TypedDict):
    type: Literal["users:list"]
    payload: UsersList


class UserJoinedMessage(TypedDict):
    type: Literal["user:joined"]
    payload: Presence


class UserLeftMessage(TypedDict):
    type: Literal["user:left"]
    payload: Presence


class DraftsMessage(TypedDict):
    type: Literal["service:drafts"]
    payload: Drafts


class DraftingMessage(TypedDict):
    type: Literal["service:drafting"]
    payload: Draft


class DraftCancelledMessage(TypedDict):
    type: Literal["service:draft-cancelled"]
    payload: DraftId


class PendingChangesStateMessage(TypedDict):
    type: Literal["pending-changes:state"]
    payload: PendingChangesState


class PendingChangeAddedMessage(TypedDict):
    type: Literal["pending-change:added"]
    payload: PendingChangeOut


class PendingChangesRemovedMessage(TypedDict):
    type: Literal["pending-changes:removed"]
    payload: PendingChangesRemoved


class PendingChangesClearedMessage(TypedDict):
    type: Literal["pending-changes:cleared"]
    payload: Empty


class PendingChangesAppliedMessage(TypedDict):
    type: Literal["pending-changes:applied"]
    payload: Applied


class NodeUpsertedMessage(TypedDict):
    type: Literal["node:upserted"]
    payload: CanvasNodeOut


class NodeDeletedMessage(TypedDict):
    type: Literal["node:deleted"]
    payload: Id


class NodeMovedMessage(TypedDict):
    type: Literal["node:moved"]
    payload: NodesMoved


class EdgeUpsertedMessage(TypedDict):
    type: Literal["edge:upserted"]
    payload: CanvasEdgeOut


class EdgeDeletedMessage(TypedDict):
    type: Literal["edge:deleted"]
    payload: Id


class CursorUpdatedMessage(TypedDict):
    type: Literal["cursor:updated"]
    payload: CursorUpdated


class ServiceCreatedMessage(TypedDict):
    type: Literal["service:created"]
    payload: ServiceCreated


class ServiceNoticeMessage(TypedDict):
    type: Literal["service:upserted", "service:deleted"]
    payload: ServiceNotice


class ServiceStatusChangedMessage(TypedDict):
    type: Literal["service:status-changed"]
    payload: ServiceStatusChanged


class DeploymentNoticeMessage(TypedDict):
    type: Literal[
        "deployment:created",
        "deployment:building",
        "deployment:starting",
        "deployment:healthy",
        "deployment:failed",
        "deployment:cancelled",
    ]
    payload: DeploymentNotice


class ContainerNoticeMessage(TypedDict):
    type: Literal["container:created", "container:deleted"]
    payload: ContainerNotice


class ErrorMessage(TypedDict):
    type: Literal["error"]
    payload: ErrorNotice


class CanvasServerMessage(RootModel[Any]):
    """What the server sends on the canvas socket."""

    root: Annotated[
        CanvasStateMessage
        | UsersListMessage
        | UserJoinedMessage
        | UserLeftMessage
        | DraftsMessage
        | DraftingMessage
        | DraftCancelledMessage
        | PendingChangesStateMessage
        | PendingChangeAddedMessage
        | PendingChangesRemovedMessage
        | PendingChangesClearedMessage
        | PendingChangesAppliedMessage
        | NodeUpsertedMessage
        | NodeDeletedMessage
        | NodeMovedMessage
        | EdgeUpsertedMessage
        | EdgeDeletedMessage
        | CursorUpdatedMessage
        | ServiceCreatedMessage
        | ServiceNoticeMessage
        | ServiceStatusChangedMessage
        | DeploymentNoticeMessage
        | ContainerNoticeMessage
        | ErrorMessage,
        Field(discriminator="type"),
    ]


# --- client -> server -----------------------------------------------------------------------------


class AuthMessage(TypedDict):
    type: Literal["auth"]
    payload: Token


class Token(TypedDict):
    token: str


class CursorMove(TypedDict):
    x: float
    y: float


class CursorMoveMessage(TypedDict):
    type: Literal["cursor:move"]
    payload: CursorMove


class NodeMove(TypedDict):
    positions: list[NodePosition]


class NodeMoveMessage(TypedDict):
    type: Literal["node:move"]
    payload: NodeMove


class NodeOrigin(TypedDict):
    """Where a node was when a drag began: its group and its position there."""

    parent_id: str | None
    x: float
    y: float


class NodeUpsert(TypedDict, total=False):
    """A node to create or change: omitted fields keep their value (a new node: their default).
    A deployed service's node that changes group stages a ``service.move``; ``origin`` says where
    the node was before the drag, so that discarding the move puts it back there."""

    id: str
    type: Literal["group", "note", "label", "service"]
    position_x: float
    position_y: float
    width: float | None
    height: float | None
    parent_id: str | None
    data: dict[str, Any]
    origin: NodeOrigin


class NodeUpsertMessage(TypedDict):
    type: Literal["node:upsert"]
    payload: NodeUpsert


class NodeDeleteMessage(TypedDict):
    type: Literal["node:delete"]
    payload: Id


class EdgeUpsert(TypedDict):
    id: NotRequired[str]
    source: str
    target: str
    data: NotRequired[dict[str, Any]]


class EdgeUpsertMessage(TypedDict):
    type: Literal["edge:upsert"]
    payload: EdgeUpsert


class EdgeDeleteMessage(TypedDict):
    type: Literal["edge:delete"]
    payload: Id


class DraftStart(TypedDict):
    __pydantic_config__ = OPEN  # type: ignore[misc]
    draft_id: str
    name: NotRequired[str]
    x: NotRequired[float]
    y: NotRequired[float]


class DraftStartMessage(TypedDict):
    type: Literal["service:draft-start"]
    payload: DraftStart


class DraftCancelMessage(TypedDict):
    type: Literal["service:draft-cancel"]
    payload: DraftId


class EnvPair(TypedDict):
    key: str
    value: str


class ServiceCreate(ServiceCreateIn):
    """A ``ServiceCreateIn`` body placed on the canvas at ``x, y``, staged with its variables."""

    draft_id: str | None = None
    env_vars: dict[str, str] | list[EnvPair] | None = None
    x: float = 0
    y: float = 0


class ServiceCreateMessage(TypedDict):
    type: Literal["service:create"]
    payload: ServiceCreate


class CanvasClientMessage(RootModel[Any]):
    """What a client sends on the canvas socket."""

    root: Annotated[
        AuthMessage
        | CursorMoveMessage
        | NodeMoveMessage
        | NodeUpsertMessage
        | NodeDeleteMessage
        | EdgeUpsertMessage
        | EdgeDeleteMessage
        | DraftStartMessage
        | DraftCancelMessage
        | ServiceCreateMessage,
        Field(discriminator="type"),
    ]
