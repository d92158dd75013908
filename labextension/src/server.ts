/**
 * The REST side: one `requestAPI` for every `/mlops/...` call. A refusal arrives as JSON `{code, message,
 * hint}` (hint optional) and becomes an `ApiError` carrying both; the words for the two failures that have
 * no server message (unreachable, extension missing) are the panel's, so they can be translated there.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IApplyResult,
  ICompare,
  IExportResult,
  IJob,
  IModelList,
  IProfiles,
  IRegistered,
  IServing,
  ISessionDetail,
  ISessionList,
  ISweeps
} from './tokens';

/** Why a request failed: the server refused it (its message says why), or there was no such server. */
export type ApiFailure = 'refused' | 'unreachable' | 'missing-extension';

/** A refused or failed request, with the server's message and, when it gave one, what to do. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string | null = null,
    readonly failure: ApiFailure = 'refused'
  ) {
    super(message);
  }
}

async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  const url =
    URLExt.join(settings.baseUrl, 'mlops', endPoint) + (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(0, String(error), null, 'unreachable');
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // a non-JSON answer (an HTML 404 page) is handled below
  }
  if (!response.ok) {
    if (response.status === 404 && (data === null || data.code === undefined)) {
      throw new ApiError(404, '', null, 'missing-extension');
    }
    const hint = typeof data?.hint === 'string' && data.hint ? data.hint : null;
    throw new ApiError(response.status, data?.message ?? response.statusText, hint);
  }
  return data as T;
}

function post<T>(endPoint: string, body: object): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

export const api = {
  sessions: (notebook: string) => requestAPI<ISessionList>('sessions', {}, { notebook }),
  session: (notebook: string, id: string) =>
    requestAPI<ISessionDetail>(`sessions/${encodeURIComponent(id)}`, {}, { notebook }),
  compare: (notebook: string, a: string, b: string) =>
    requestAPI<ICompare>('compare', {}, { notebook, a, b }),
  profiles: (notebook: string) => requestAPI<IProfiles>('profiles', {}, { notebook }),
  sweeps: (notebook: string) => requestAPI<ISweeps>('sweeps', {}, { notebook }),
  serving: (notebook: string) => requestAPI<IServing>('serving', {}, { notebook }),
  applySweep: (notebook: string, experiment: string) =>
    post<IApplyResult>('sweeps/apply', { notebook, experiment }),
  exportDvc: (notebook: string) => post<IExportResult>('export', { notebook }),
  verify: (notebook: string) => post<IJob>('verify', { notebook }),
  job: (id: string) => requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`),
  models: (notebook: string, session: string) => requestAPI<IModelList>('models', {}, { notebook, session }),
  register: (notebook: string, session: string, model: string, name: string, alias: string) =>
    post<IRegistered>('register', { notebook, session, model, name, alias })
};
