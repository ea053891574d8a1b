/**
 * Using the client from a Next.js app whose users sign in with Better Auth
 * (with its `jwt()` plugin on the server and `jwtClient()` here). Copy this
 * next to your auth client, e.g. as `lib/todo-api.ts`, and set
 * `NEXT_PUBLIC_TODO_API_URL` to the stack's `ApiUrl` output
 * (`http://localhost:9000` for `make dev`).
 */
import { jwtClient } from "better-auth/client/plugins";
import { createAuthClient } from "better-auth/react";
import { createTodoClient, describeError, type Task } from "../src/index";

// Next.js provides `process.env` (declared here so the example checks alone).
declare const process: { env: Record<string, string | undefined> };

export const authClient = createAuthClient({ plugins: [jwtClient()] });

/** Every call asks Better Auth for a short-lived JWT of the signed-in user. */
export const todoApi = createTodoClient(
  process.env.NEXT_PUBLIC_TODO_API_URL ?? "http://localhost:9000",
  async () => (await authClient.token()).data?.token,
);

/** The user's pending tasks, newest first (one page). */
export async function pendingTasks(): Promise<Task[]> {
  const { data, error } = await todoApi.GET("/api/tasks", {
    params: { query: { status: "pending", limit: 100 } },
  });
  if (error) throw new Error(describeError(error));
  return data.tasks as Task[];
}

/**
 * Creates a task. The Idempotency-Key makes a retry after a network error
 * safe: the API answers the task it already created instead of a second one.
 */
export async function addTask(title: string, idempotencyKey = crypto.randomUUID()) {
  const { data, error, response } = await todoApi.POST("/api/tasks", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body: { title },
  });
  if (error) throw new Error(describeError(error));
  return {
    task: data,
    location: response.headers.get("Location"),
    replayed: response.headers.get("Idempotent-Replayed") === "true",
  };
}

/** Marks a task done (or not done again). */
export async function toggle(id: number): Promise<Task> {
  const { data, error } = await todoApi.PATCH("/api/tasks/{id}/complete", {
    params: { path: { id } },
  });
  if (error) throw new Error(describeError(error));
  return data;
}
