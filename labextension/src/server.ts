/**
 * The REST side: one `requestAPI` for every `/mlops/...` call, errors turned into one-line messages.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  ICompare,
  IExportResult,
  IJob,
  ISessionDetail,
  ISessionList
} from './tokens';

export const MISSING_EXTENSION =
  'server extension not installed: history, Export and Verify are unavailable ' +
  '(run `pip install jupyter-mlops` in the server’s environment and restart Jupyter)';

/** A refused or failed request, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
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
    throw new ApiError(0, `cannot reach the Jupyter server: ${error}`);
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
      throw new ApiError(404, MISSING_EXTENSION);
    }
    throw new ApiError(response.status, data?.message ?? response.statusText);
  }
  return data as T;
}

function post<T>(endPoint: string, body: object): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

export const api = {
  /** Probe: resolves when the server extension answers; rejects with MISSING_EXTENSION otherwise. */
  info: () => requestAPI<{ version: string }>('info'),
  sessions: (notebook: string) => requestAPI<ISessionList>('sessions', {}, { notebook }),
  session: (notebook: string, id: string) =>
    requestAPI<ISessionDetail>(`sessions/${encodeURIComponent(id)}`, {}, { notebook }),
  compare: (notebook: string, a: string, b: string) =>
    requestAPI<ICompare>('compare', {}, { notebook, a, b }),
  exportDvc: (notebook: string) => post<IExportResult>('export', { notebook }),
  verify: (notebook: string) => post<IJob>('verify', { notebook }),
  job: (id: string) => requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`)
};
