// Calls to the service's API with the key kept in this browser's localStorage.

const KEY = "sentiment.apiKey";

export function savedKey() {
  return localStorage.getItem(KEY) || "";
}

export function saveKey(key) {
  if (key) localStorage.setItem(KEY, key.trim());
  else localStorage.removeItem(KEY);
}

// Resolves to {ok, status, body}; body is the parsed JSON, or null. Never throws for
// an HTTP error: views show error.message from the body instead.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const key = savedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, status: 0, body: { error: { message: `The service is unreachable (${error.message}).`, details: [] } } };
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  return { ok: response.ok, status: response.status, body: parsed };
}

export function errorText(result) {
  if (result.status === 401) return "This needs an API key: enter one at the top right.";
  return result.body?.error?.message || `The request failed (HTTP ${result.status}).`;
}
