// REST calls under /api/. The session is the HttpOnly cookie set at login, so
// no token ever lives in JavaScript. Error messages come in the app's language.

import { lang } from "./i18n";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly retryAfter?: number,
    readonly until?: number,
  ) {
    super(message);
  }
}

export async function api<T = Record<string, unknown>>(
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: { "accept-language": lang() } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("network", "network error", 0);
  }
  const text = await response.text();
  let data: unknown = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError("internal", `bad answer (${response.status})`, response.status);
  }
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string; retry_after?: number; until?: number } }).error;
    throw new ApiError(
      error?.code ?? "internal",
      error?.message ?? `HTTP ${response.status}`,
      response.status,
      error?.retry_after,
      error?.until,
    );
  }
  return data as T;
}
