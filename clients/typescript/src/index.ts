/**
 * A typed client of the Todo API. The types (`schema.d.ts`) are generated
 * from `../openapi.json` by openapi-typescript (`make openapi`); calls go
 * through openapi-fetch, so paths, parameters, bodies and responses are all
 * checked by the compiler against the API's own document.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, paths };
export type Task = components["schemas"]["Task"];
export type TaskList = components["schemas"]["TaskList"];
export type NewTask = components["schemas"]["NewTask"];
export type TaskUpdate = components["schemas"]["TaskUpdate"];
export type ErrorBody = components["schemas"]["ErrorBody"];
export type TodoClient = Client<paths>;

/**
 * A client for the API at `baseUrl` (the API Gateway URL, or
 * `http://localhost:9000` under `make dev`). `getToken` is asked before
 * every request for the signed-in user's JWT (for example Better Auth's
 * `authClient.token()`); no token, no `Authorization` header (a 401).
 */
export function createTodoClient(
  baseUrl: string,
  getToken: () => Promise<string | null | undefined>,
): TodoClient {
  const client = createClient<paths>({ baseUrl });
  const bearer: Middleware = {
    async onRequest({ request }) {
      const token = await getToken();
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
  client.use(bearer);
  return client;
}

/**
 * A readable message for any error response: the API's own
 * (`{"error": {"code", "message"}}`) or API Gateway's throttling 429
 * (`{"message": "Too Many Requests"}`).
 */
export function describeError(error: ErrorBody | { message: string }): string {
  return "error" in error ? `${error.error.code}: ${error.error.message}` : error.message;
}
