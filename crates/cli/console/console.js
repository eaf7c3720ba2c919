// The Portcullis console's page: talks only to the console that served it (same origin).
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined
    ? { method: "GET" }
    : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const answer = await response.json();
  if (!response.ok) {
    throw new Error(answer.error || `${response.status}`);
  }
  return answer;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

const RESULT = { passed: "✓ PASS", failed: "✗ FAIL", not_reached: "– not reached", open: "○ no authorizer" };

function refusalText(refusal) {
  if (!refusal) return "";
  const challenge = refusal.www_authenticate ? `\nWWW-Authenticate: ${refusal.www_authenticate}` : "";
  return `${refusal.status} ${refusal.body || "(empty body)"}${challenge}`;
}

function fillRows(tbody, items, columns) {
  tbody.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    row.className = item.outcome;
    row.dataset.outcome = item.outcome;
    for (const column of columns) column(row, item);
    tbody.appendChild(row);
  }
}

async function inspect() {
  const token = $("token").value.trim();
  const explained = await api("/api/inspect", { token });
  $("header-json").textContent = explained.header ? JSON.stringify(explained.header, null, 2) : "(not a JSON object)";
  $("claims-json").textContent = explained.claims ? JSON.stringify(explained.claims, null, 2) : "(not a JSON object)";
  const verdict = $("verdict");
  if (explained.verdict.status === 200) {
    verdict.className = "accepted";
    verdict.textContent = "✓ Accepted by the gate (each route's scope rule below).";
  } else {
    verdict.className = "refused";
    verdict.textContent = `✗ Refused by the ${explained.verdict.rule} rule: ${refusalText(explained.verdict)}`;
  }
  fillRows($("rules").querySelector("tbody"), explained.rules, [
    (row, rule) => { row.dataset.rule = rule.rule; cell(row, rule.rule); },
    (row, rule) => cell(row, RESULT[rule.outcome], "result"),
    (row, rule) => cell(row, rule.detail),
    (row, rule) => cell(row, refusalText(rule.refusal)),
  ]);
  fillRows($("routes").querySelector("tbody"), explained.routes, [
    (row, route) => { row.dataset.route = route.route; cell(row, route.route); },
    (row, route) => cell(row, route.outcome === "open" ? "(no authorizer: any request)" : route.scopes.length ? route.scopes.join(" ") : "(any valid token)"),
    (row, route) => cell(row, RESULT[route.outcome], "result"),
    (row, route) => cell(row, refusalText(route.refusal)),
  ]);
  return explained;
}

async function mint(event) {
  event.preventDefault();
  const form = {
    subject: $("subject").value,
    email: $("email").value,
    groups: $("groups").value,
    scopes: $("scopes").value,
    token_use: $("token-use").value,
    lifetime_minutes: Number($("lifetime").value),
  };
  try {
    const minted = await api("/api/mint", form);
    $("token").value = minted.token;
    $("sign-in-status").textContent = `Minted a token for ${form.subject}.`;
    await inspect();
  } catch (error) {
    $("sign-in-status").textContent = `Could not mint: ${error.message}`;
    $("sign-in-status").className = "error";
  }
}

async function send(event) {
  event.preventDefault();
  const request = {
    method: $("method").value,
    path: $("path").value,
    headers: $("headers").value,
    body: ["GET", "HEAD"].includes($("method").value) ? "" : $("body").value,
    token: $("token").value.trim(),
  };
  const status = $("response-status");
  try {
    const answer = await api("/api/call", request);
    status.className = answer.status < 400 ? "" : "error";
    status.textContent = `${request.method} ${request.path} → ${answer.status} (${answer.ms.toFixed(1)} ms)`;
    $("response-headers").textContent = answer.headers.map(([k, v]) => `${k}: ${v}`).join("\n");
    $("response-body").textContent = answer.body;
    $("event-section").hidden = !answer.event;
    $("event").textContent = answer.event ? JSON.stringify(answer.event, null, 2) : "";
    if (request.token) await inspect();
    await refreshHistory();
  } catch (error) {
    status.className = "error";
    status.textContent = `Could not call: ${error.message}`;
  }
}

async function refreshHistory() {
  const entries = await api("/api/history");
  const tbody = $("history").querySelector("tbody");
  tbody.replaceChildren();
  for (const entry of entries.slice().reverse()) {
    const row = document.createElement("tr");
    cell(row, new Date(entry.at * 1000).toLocaleTimeString());
    cell(row, `${entry.method} ${entry.path}`);
    cell(row, String(entry.status));
    const token = entry.token;
    cell(row, token ? `${token.sub || "?"}${token.rule ? ` (refused: ${token.rule})` : ""}` : "(none)");
    cell(row, entry.www_authenticate || "");
    tbody.appendChild(row);
  }
}

async function refreshKeys() {
  $("keys").textContent = JSON.stringify(await api("/api/keys"), null, 2);
}

async function start() {
  const info = await api("/api/info");
  $("where").textContent = `API ${info.api}; trusted issuer${info.issuers.length > 1 ? "s" : ""}: ${info.issuers.join(", ")}`;
  $("mint-fields").disabled = !info.can_mint;
  if (!info.can_mint) $("mint-fields").querySelector("legend").textContent += " (not available: the service trusts the configured provider)";
  $("sign-in-row").hidden = !info.can_sign_in;
  $("mint-form").addEventListener("submit", mint);
  $("inspect-form").addEventListener("submit", (event) => { event.preventDefault(); inspect(); });
  $("call-form").addEventListener("submit", send);
  $("refresh-keys").addEventListener("click", refreshKeys);
  if (new URLSearchParams(location.search).has("signed-in")) {
    history.replaceState(null, "", "/");
    const handed = await api("/api/signed-in", {});
    if (handed && handed.access_token) {
      $("token").value = handed.access_token;
      $("sign-in-status").textContent = "Signed in with the provider.";
      await inspect();
    } else if (handed && handed.error) {
      $("sign-in-status").textContent = `Sign-in failed: ${handed.error}`;
      $("sign-in-status").className = "error";
    }
  }
  await refreshHistory();
  document.body.dataset.ready = "true";
}

start().catch((error) => { $("where").textContent = `The console did not start: ${error.message}`; });
