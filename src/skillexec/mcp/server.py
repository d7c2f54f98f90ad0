"""The MCP server over one engine: the SDK's low-level ``Server`` with handlers that list
and call tools, serve resources and prompts, and publish list changes (both eras: legacy
sessions get ``notifications/tools/list_changed``; 2026-07-28 clients their
``subscriptions/listen`` stream)."""

from __future__ import annotations

import contextlib
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from skillexec.errors import ParameterError, SkillExecError
from skillexec.mcp import agent_skills, arguments, builtins
from skillexec.mcp.artifact_read import artifact_result
from skillexec.mcp.calls import Report, follow
from skillexec.mcp.catalog import Catalog, SkillTool
from skillexec.mcp.pages import page
from skillexec.mcp.results import error_result, tool_result
from skillexec.mcp.search import rank
from skillexec.mcp.settings import McpConfig
from skillexec.task import ExecutionResult, TaskStatus
from skillexec.workspace_files import from_wire

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["CALLER_KEY", "Caller", "McpServer", "caller_of_request"]

CALLER_KEY = "skillexec_caller"  # where the HTTP middleware leaves the request's Caller

Ctx = ServerRequestContext[Any, Any]
_MAX_HANDLES = 10_000  # skill_start call ids remembered (with their owner)
_POLL_S = 1.0  # how often the registry is looked at for list changes


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a request (HTTP: the API key's principal and what it may run)."""

    # A name, or (the HTTP service's keys) its Principal: the engine checks what it may do.
    principal: Any = None
    # Which skills it may run, and see (their tools, prompts and files).
    allows: Callable[[str], bool] = lambda _skill_id: True
    # Whether its role may take a route-level action ("run": sessions too), as over HTTP.
    can: Callable[[str], bool] = lambda _action: True


class _Server(Server[Any]):
    """The SDK server announcing ``listChanged`` to legacy clients on every transport (the
    HTTP manager and the in-memory client build their options without any: SDK #2896)."""

    def create_initialization_options(
            self, notification_options: NotificationOptions | None = None,
            experimental_capabilities: dict[str, dict[str, Any]] | None = None,
            extensions: dict[str, dict[str, Any]] | None = None) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(
                tools_changed=True, prompts_changed=True, resources_changed=True),
            experimental_capabilities, extensions)


def _wants_progress(ctx: Ctx) -> bool:
    """Whether the client asked for progress: a progressToken on the wire, or (the SDK's
    in-process 2026-07-28 channel, which has no tokens) a progress callback. Without it
    the call does not follow the task's events at all (the fast path)."""
    meta: Any = ctx.meta or {}
    token = meta.get("progress_token", meta.get("progressToken"))
    if token is not None and not isinstance(token, bool):
        return True
    channel = getattr(ctx.session, "_request_outbound", None)
    channel = getattr(channel, "_inner", channel)  # the 2026 era's wrapper
    return getattr(channel, "_on_progress", None) is not None


# The server's tools that run or hold something: a key whose role runs nothing is not
# offered them (each answered it "this API key's role may not run skills").
_RUNNING = frozenset({builtins.RUN_SCRIPT, builtins.SESSION_CREATE, builtins.SESSION_CLOSE,
                      builtins.START, builtins.CANCEL})


class McpServer:
    """``McpServer(engine).server`` is the SDK server; ``run_stdio()`` serves stdin/stdout,
    ``http_app()`` is the Streamable HTTP ASGI app."""

    def __init__(self, engine: SkillExecutionEngine, *, settings: McpConfig | None = None,
                 caller: Callable[[Ctx], Caller] | None = None) -> None:
        self.engine = engine
        self.settings = s = settings or engine.config.mcp
        self.catalog = Catalog(engine.skills.list, s, reserved=builtins.BUILTINS)
        self._caller = caller or caller_of_request
        self._handles: OrderedDict[str, tuple[str | None, SkillTool | None]] = OrderedDict()
        self._open: set[str] = set()  # handles not seen ended (cancelled when stdio ends)
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.bus = InMemorySubscriptionBus()
        self._lifespans = 0
        self._watcher: anyio.CancelScope | None = None
        self.server: Server[Any] = _Server(
            "skillexec", version=_version(), lifespan=self._lifespan,
            instructions="Each skill is a tool; skills' instructions are resources and "
            "prompts; run_skill_script runs their bundled scripts.",
            on_list_tools=self._list_tools, on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource, on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_subscriptions_listen=ListenHandler(self.bus))

    # -- running -------------------------------------------------------------------------

    def init_options(self) -> InitializationOptions:
        return self.server.create_initialization_options()

    @contextlib.asynccontextmanager
    async def _lifespan(self, _server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        # Entered per stdio connection, per in-memory client, once per HTTP manager: one
        # watcher however many are open.
        self._lifespans += 1
        async with anyio.create_task_group() as tg:
            if self._watcher is None:
                self._watcher = tg.cancel_scope
                tg.start_soon(self._watch)
            try:
                yield {}
            finally:
                self._lifespans -= 1
                if self._watcher is tg.cancel_scope:
                    self._watcher = None
                tg.cancel_scope.cancel()

    async def _watch(self) -> None:
        seen = self.catalog.fingerprint()
        while True:
            await anyio.sleep(_POLL_S)
            now = self.catalog.fingerprint()
            if now != seen:
                seen = now
                await self.lists_changed()

    async def lists_changed(self) -> None:
        """Tell every client the tool, prompt and resource lists changed (skills reloaded)."""
        for event in (ToolsListChanged(), PromptsListChanged(), ResourcesListChanged()):
            await self.bus.publish(event)
        for conn in list(self._connections):
            for method in ("notifications/tools/list_changed",
                           "notifications/prompts/list_changed",
                           "notifications/resources/list_changed"):
                await conn.notify(method, None)  # never raises: a closed stream drops it

    def _seen(self, ctx: Ctx) -> None:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            conn = getattr(ctx.session, "_connection", None)
            if conn is not None:
                self._connections.add(conn)

    async def run_stdio(self) -> None:
        from mcp.server.stdio import stdio_server

        from skillexec.mcp.stdio import stdin_lines
        # stdin read by the loop: a cancellation (SIGTERM, Ctrl-C) stops the server at
        # once, not when the client next writes a line.
        try:
            async with stdin_lines() as lines, \
                    stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
                await self.server.run(read, write, self.init_options())
        finally:
            with anyio.CancelScope(shield=True):
                await self._end_handles()

    async def _end_handles(self) -> None:
        """Cancel the calls started with skill_start that still run: the client is gone
        (stdin closed) or the server stops, and their call_ids lived in this connection,
        so no one could ever read their results. Cancelled, they are journaled as such
        before the engine closes (which would otherwise wait for them to finish)."""
        for call_id in sorted(self._open):
            await self.engine.cancel(call_id)
        self._open.clear()

    # -- tools -----------------------------------------------------------------------------

    def _visible(self, caller: Caller) -> list[SkillTool]:
        return [t for t in self.catalog.tools() if caller.allows(t.skill.id)]

    async def _list_tools(self, ctx: Ctx, _params: types.PaginatedRequestParams | None,
                          ) -> types.ListToolsResult:
        self._seen(ctx)
        caller = self._caller(ctx)
        visible = self._visible(caller)
        large = len(visible) > self.settings.search_threshold
        tools = builtins.builtin_tools(search=large)
        if not caller.can("run"):  # a viewer's or an auditor's key: offered what it may use
            tools = [t for t in tools if t.name not in _RUNNING]
        if not large:
            tools = [*(t.tool for t in visible), *tools]
        return types.ListToolsResult(tools=tools)

    def _skill_tool(self, name: str, caller: Caller) -> SkillTool | None:
        found = self.catalog.by_name(name) or self.catalog.by_skill(name)
        return found if found is not None and caller.allows(found.skill.id) else None

    async def _call_tool(self, ctx: Ctx, params: types.CallToolRequestParams,
                         ) -> types.CallToolResult:
        self._seen(ctx)
        caller = self._caller(ctx)
        args = dict(params.arguments or {})
        if params.name in builtins.BUILTINS:
            return await self._builtin(ctx, params.name, args, caller)
        tool = self._skill_tool(params.name, caller)
        if tool is None and not caller.can("run") and self.catalog.by_name(params.name):
            # a tool that exists: "unknown tool" would send the model looking for another
            return error_result(f"{params.name}: this API key's role may not run skills.")
        if tool is None or params.name != tool.name:
            raise MCPError(types.INVALID_PARAMS, self._no_tool("unknown tool", params.name,
                                                               caller))
        task_id = await self.engine.submit(tool.skill.id, args, version=tool.skill.version,
                                           principal=caller.principal)
        result = await follow(self.engine, task_id, report=self._report(ctx),
                              heartbeat_s=self.settings.heartbeat_s)
        return await self._render(result, tool)

    def _no_tool(self, said: str, name: str, caller: Caller) -> str:
        # A skill with no entry is no tool: what it offers instead (it said "no skill").
        hint = self.catalog.not_a_tool(name) if caller.allows(name) else None
        return f"{name!r} is not a tool: {hint}" if hint else f"{said} {name!r}"

    def _report(self, ctx: Ctx) -> Report | None:
        if not _wants_progress(ctx):
            return None
        return ctx.session.report_progress

    async def _render(self, result: ExecutionResult, tool: SkillTool | None,
                      label: str | None = None) -> types.CallToolResult:
        return await tool_result(result, wrapped=tool.wrapped if tool else False,
                                 settings=self.settings, read=self.engine.artifacts.read,
                                 label=label or (tool.skill.id if tool else result.skill_id))

    # -- the server's own tools --------------------------------------------------------------

    async def _builtin(self, ctx: Ctx, name: str, args: dict[str, Any], caller: Caller,
                       ) -> types.CallToolResult:
        try:
            # The SDK does not check a call against the tool's schema.
            arguments.only(args, builtins.argument_names(name))
            if name in _RUNNING and not caller.can("run"):
                # As POST /api/sessions: a viewer or auditor key runs and opens nothing (its
                # grants hide every skill: "no skill here" was said of ones that exist).
                return error_result(f"{name}: this API key's role may not run skills, "
                                    "nor open or close sessions.")
            if name == builtins.RUN_SCRIPT:
                return await self._run_script(ctx, args, caller)
            if name == builtins.SESSION_CREATE:
                sid = await self.engine.sessions.acreate(
                    ttl_s=arguments.seconds(args, "ttl_s"), principal=caller.principal)
                return _ok({"session": sid})
            if name == builtins.SESSION_CLOSE:  # another principal's: not closed, not confirmed
                return _ok({"closed": await self.engine.sessions.aclose(
                    arguments.text(args, "session"), principal=caller.principal)})
            if name == builtins.START:
                return await self._start(args, caller)
            if name == builtins.SEARCH:
                return _ok({"matches": self._search(args, caller)})
            if name == builtins.ARTIFACT:
                return await self._artifact_tool(args, caller)
            return await self._handle(ctx, name, args, caller)
        except (SkillExecError, ValueError, TypeError) as exc:
            return error_result(f"{name}: {str(exc).rstrip('.')}.")

    async def _run_script(self, ctx: Ctx, args: dict[str, Any], caller: Caller,
                          ) -> types.CallToolResult:
        skill, script = arguments.text(args, "skill"), arguments.text(args, "script")
        if not caller.allows(skill) or not self.catalog.visible(skill):
            return error_result(f"run_skill_script: no skill {skill!r} here.")
        raw_args = args.get("args") or []
        if not isinstance(raw_args, list) or not all(isinstance(a, str) for a in raw_args):
            return error_result("run_skill_script: 'args' must be a list of strings.")
        raw_files = args.get("files") or {}
        if not isinstance(raw_files, dict):  # a model's ["photo.png"]
            return error_result("run_skill_script: 'files' must map workspace paths to "
                                "their content in base64 ({\"photo.png\": \"iVBOR...\"}).")
        stdin = args.get("stdin")
        if stdin is not None and not isinstance(stdin, str):
            return error_result("run_skill_script: 'stdin' must be text, which the script "
                                "reads as given (not base64).")
        try:  # base64 text, or an object with an execute bit, a time, a folder, a link
            files = {str(path): from_wire(str(path), v) for path, v in raw_files.items()}
        except ParameterError as exc:
            return error_result(f"run_skill_script: {exc.message.rstrip('.')}.")
        # 0 was "not given" (the default timeout): the engine refuses it, as for any call
        env = args.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return error_result("run_skill_script: 'env' must map names to text.")
        task_id = await self.engine.submit_script(
            skill, script, args=raw_args, files=files or None, stdin=stdin,
            session=args.get("session"), timeout=arguments.seconds(args, "timeout_s"),
            principal=caller.principal, env=env)
        # As a skill tool's call: progress and a heartbeat to a client that asks for them
        # (a host that gives up on a silent call after 60 s), cancelled with the request.
        result = await follow(self.engine, task_id, report=self._report(ctx),
                              heartbeat_s=self.settings.heartbeat_s)
        return await self._render(result, None, label=f"{skill}:{script}")

    async def _start(self, args: dict[str, Any], caller: Caller) -> types.CallToolResult:
        name = arguments.text(args, "skill")
        tool = self._skill_tool(name, caller)
        if tool is None:
            return error_result("skill_start: " + self._no_tool(
                "no skill or tool named", name, caller) + ".")
        params = args.get("arguments") or {}
        task_id = await self.engine.submit(tool.skill.id, params, version=tool.skill.version,
                                           principal=caller.principal)
        info = await self.engine.status(task_id)
        if info.status is TaskStatus.REJECTED:
            # Refused before it ran (invalid parameters...): said now, as the direct tool
            # call says it, not at a later skill_result.
            return await self._render(await self.engine.wait(task_id), tool)
        self._handles[task_id] = (caller.principal, tool)
        self._open.add(task_id)
        while len(self._handles) > _MAX_HANDLES:
            self._open.discard(self._handles.popitem(last=False)[0])
        return _ok({"call_id": task_id, "status": info.status.value})

    async def _handle(self, ctx: Ctx, name: str, args: dict[str, Any], caller: Caller,
                      ) -> types.CallToolResult:
        call_id = arguments.text(args, "call_id")
        owner = self._handles.get(call_id)
        if owner is None or owner[0] != caller.principal:
            return error_result(f"{name}: no call {call_id!r} (started here with "
                                "skill_start).")
        if name == builtins.CANCEL:
            self._open.discard(call_id)
            return _ok({"cancelled": await self.engine.cancel(call_id)})
        if name == builtins.STATUS:
            info = await self.engine.status(call_id)
            if info.status.terminal:
                self._open.discard(call_id)
            return _ok({"call_id": call_id, "skill": info.skill_id,
                        "status": info.status.value, "done": info.status.terminal,
                        "attempts": info.attempts})
        given = arguments.seconds(args, "wait_s")
        wait_s = min(max(20.0 if given is None else given, 0.0), 50.0)
        with anyio.move_on_after(wait_s):
            # Waiting only: "still running, ask again" must be true of the call after it.
            result = await follow(self.engine, call_id, report=self._report(ctx),
                                  heartbeat_s=self.settings.heartbeat_s, owns=False)
            self._open.discard(call_id)
            return await self._render(result, owner[1])
        info = await self.engine.status(call_id)
        return types.CallToolResult(content=[types.TextContent(
            text=f"call {call_id} is still {info.status.value}; ask skill_result again.")],
            structured_content={"call_id": call_id, "status": info.status.value,
                                "done": False})

    def _search(self, args: dict[str, Any], caller: Caller) -> list[dict[str, Any]]:
        found = rank(arguments.text(args, "query"), self._visible(caller),
                     arguments.count(args, "limit", default=10))
        return [{"tool": t.name, "skill_id": t.skill.id, "title": t.tool.title,
                 "description": t.tool.description, "input_schema": t.tool.input_schema}
                for t in found]

    async def _artifact(self, artifact_id: str, caller: Caller) -> tuple[bytes, str]:
        # Another principal's artifact is "not found" to this caller (DESIGN §4.5).
        ref = await self.engine.artifacts.info(artifact_id, principal=caller.principal)
        return await self.engine.artifacts.read(artifact_id, principal=caller.principal), ref.mime

    async def _artifact_tool(self, args: dict[str, Any], caller: Caller,
                             ) -> types.CallToolResult:
        artifact_id = arguments.text(args, "artifact_id")
        offset = arguments.count(args, "offset", default=0, minimum=0)
        length = arguments.count(args, "length", default=0) or None
        data, mime = await self._artifact(artifact_id, caller)
        return artifact_result(artifact_id, data, mime, offset=offset, length=length,
                               max_chars=self.settings.max_text_chars)

    # -- resources and prompts ---------------------------------------------------------------

    async def _list_resources(self, ctx: Ctx, params: types.PaginatedRequestParams | None,
                              ) -> types.ListResourcesResult:
        self._seen(ctx)
        found, more = page(agent_skills.resources(self.catalog, self._caller(ctx).allows),
                           params)
        return types.ListResourcesResult(resources=found, next_cursor=more)

    async def _list_templates(self, ctx: Ctx, _p: types.PaginatedRequestParams | None,
                              ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=agent_skills.templates())

    async def _read_resource(self, ctx: Ctx, params: types.ReadResourceRequestParams,
                             ) -> types.ReadResourceResult:
        caller = self._caller(ctx)
        return await agent_skills.read(
            str(params.uri), self.catalog, allows=caller.allows,
            artifact=lambda artifact_id: self._artifact(artifact_id, caller))

    async def _list_prompts(self, ctx: Ctx, params: types.PaginatedRequestParams | None,
                            ) -> types.ListPromptsResult:
        self._seen(ctx)
        found, more = page(agent_skills.prompts(self.catalog, self._caller(ctx).allows),
                           params)
        return types.ListPromptsResult(prompts=found, next_cursor=more)

    async def _get_prompt(self, ctx: Ctx, params: types.GetPromptRequestParams,
                          ) -> types.GetPromptResult:
        return agent_skills.prompt(params.name, params.arguments, self.catalog,
                                   allows=self._caller(ctx).allows)


def caller_of_request(ctx: Ctx) -> Caller:
    """The Caller the HTTP key middleware put on the request (stdio: the local user)."""
    request: Any = ctx.request
    state = getattr(request, "scope", {}).get("state") or {}
    found = state.get(CALLER_KEY)
    return found if isinstance(found, Caller) else Caller()


def _ok(body: dict[str, Any]) -> types.CallToolResult:
    import orjson
    return types.CallToolResult(content=[types.TextContent(text=orjson.dumps(body).decode())],
                                structured_content=body)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("skillexec")
    except PackageNotFoundError:
        return "0"
