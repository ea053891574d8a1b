// A page on another origin than the API, calling it through the generated
// TypeScript client (compiled to /client/index.js), as the Next.js app would.
// `#api=<base URL>&token=<JWT>`; the outcome is written into #result as JSON.
import { createTodoClient, describeError } from "/client/index.js";

const params = new URLSearchParams(location.hash.slice(1));
const api = createTodoClient(params.get("api"), async () => params.get("token"));
const result = {};
const show = (done) => {
  const pre = document.getElementById("result");
  pre.textContent = JSON.stringify(result, null, 2);
  if (done) pre.dataset.done = "true";
};

try {
  const title = `browser ${crypto.randomUUID()}`;
  const key = crypto.randomUUID();
  const create = () =>
    api.POST("/api/tasks", {
      params: { header: { "Idempotency-Key": key } },
      body: { title, description: "from the browser test" },
    });
  let { data, error, response } = await create();
  if (error) throw new Error(`create: ${describeError(error)}`);
  result.created = {
    status: response.status,
    id: data.id,
    title: data.title,
    location: response.headers.get("Location"),
    replayed: response.headers.get("Idempotent-Replayed"),
  };
  ({ data, error, response } = await create());
  if (error) throw new Error(`replay: ${describeError(error)}`);
  result.replay = {
    status: response.status,
    id: data.id,
    replayed: response.headers.get("Idempotent-Replayed"),
  };
  const id = result.created.id;
  ({ data, error } = await api.GET("/api/tasks", { params: { query: { limit: 1000 } } }));
  if (error) throw new Error(`list: ${describeError(error)}`);
  result.listed = data.tasks.some((task) => task.id === id);
  ({ data, error } = await api.PATCH("/api/tasks/{id}/complete", { params: { path: { id } } }));
  if (error) throw new Error(`toggle: ${describeError(error)}`);
  result.toggled = data.completed;
  ({ data, error } = await api.PUT("/api/tasks/{id}", {
    params: { path: { id } },
    body: { title: `${title} (renamed)`, description: null, completed: false },
  }));
  if (error) throw new Error(`update: ${describeError(error)}`);
  result.updated = { title: data.title, completed: data.completed };
  ({ data, error } = await api.POST("/api/tasks", { body: { title: `${title} (kept)` } }));
  if (error) throw new Error(`keep: ${describeError(error)}`);
  result.kept = { id: data.id, title: data.title };
  ({ error, response } = await api.DELETE("/api/tasks/{id}", { params: { path: { id } } }));
  result.deleted = response.status;
  ({ error, response } = await api.GET("/api/tasks/{id}", { params: { path: { id } } }));
  result.afterDelete = { status: response.status, code: error?.error?.code };
  const stranger = createTodoClient(params.get("api"), async () => "not-a-token");
  ({ error, response } = await stranger.GET("/api/tasks"));
  result.unauthorized = {
    status: response.status,
    wwwAuthenticate: response.headers.get("WWW-Authenticate"),
  };
  // A header the API's CORS does not allow: the browser must refuse to send it.
  try {
    await fetch(`${params.get("api")}/api/tasks`, { headers: { "X-Not-Allowed": "1" } });
    result.foreignHeaderBlocked = false;
  } catch {
    result.foreignHeaderBlocked = true;
  }
} catch (failure) {
  result.failure = String(failure);
}
show(true);
