/** Small building blocks shared by the panel's sections. */
import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useState } from 'react';

import { IProblem } from '../tokens';

export function Section(props: {
  title: string;
  count?: number;
  className?: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <details className={`jp-mlops-Section ${props.className ?? ''}`} open>
      <summary className="jp-mlops-Section-title">
        {props.title}
        {props.count !== undefined && <span className="jp-mlops-count">{props.count}</span>}
      </summary>
      <div className="jp-mlops-Section-body">{props.children}</div>
    </details>
  );
}

/**
 * What the server answers to `read`, asked again whenever `deps` change; an answer overtaken by a newer
 * read is dropped. `read` returns null when there is nothing to ask (the answer is then null). A failure
 * keeps the last answer and is the `error` until a read succeeds.
 */
export function useServerRead<T>(
  read: () => Promise<T> | null,
  deps: React.DependencyList
): { data: T | null; error: unknown } {
  const [state, setState] = useState<{ data: T | null; error: unknown }>({ data: null, error: null });
  useEffect(() => {
    const asked = read();
    if (asked === null) {
      setState({ data: null, error: null });
      return;
    }
    let current = true;
    asked.then(
      data => current && setState({ data, error: null }),
      error => current && setState(last => ({ data: last.data, error }))
    );
    return () => {
      current = false;
    };
  }, deps);
  return state;
}

export function Empty(props: { children: React.ReactNode }): JSX.Element {
  return <div className="jp-mlops-empty">{props.children}</div>;
}

/** A failure: its message, and below it the hint when the server gave one. */
export function Problem(props: { problem: IProblem; prefix?: string; className?: string }): JSX.Element {
  const { problem } = props;
  return (
    <div className={props.className ?? 'jp-mlops-error'} role="alert">
      <div className="jp-mlops-problem-message">
        {props.prefix}
        {problem.message}
      </div>
      {problem.hint && <div className="jp-mlops-hint">{problem.hint}</div>}
    </div>
  );
}

export function shortHash(md5: string | null): string {
  return md5 ? md5.slice(0, 8) : '—';
}

export function formatSize(bytes: number | null): string {
  if (bytes === null || bytes === undefined) {
    return '—';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number, trans: TranslationBundle): string {
  if (seconds < 1) {
    return trans.__('%1 ms', Math.round(seconds * 1000));
  }
  return seconds < 60
    ? trans.__('%1 s', seconds.toFixed(1))
    : trans.__('%1 min %2 s', Math.floor(seconds / 60), Math.round(seconds % 60));
}

export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  if (value === null || value === undefined) {
    return '—';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function formatTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'
  });
}

/** A tiny line chart; nothing for fewer than two points. */
export function Sparkline(props: { values: number[]; title: string }): JSX.Element | null {
  const { values } = props;
  if (values.length < 2) {
    return null;
  }
  const width = 56;
  const height = 18;
  const min = Math.min(...values);
  const span = Math.max(...values) - min || 1;
  const points = values
    .map((v, i) => `${((i / (values.length - 1)) * width).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`)
    .join(' ');
  return (
    <svg className="jp-mlops-Sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img">
      <title>{props.title}</title>
      <polyline points={points} fill="none" strokeWidth="1.5" />
    </svg>
  );
}

/** A drift verdict as a flag (PSI ≥ 0.2 drift, ≥ 0.1 warn: `monitor/drift.py`); `against` names the reference. */
export function Flag(props: {
  verdict: string;
  psi?: number | null;
  against?: string;
  trans: TranslationBundle;
}): JSX.Element {
  const { verdict, psi, against, trans } = props;
  const words: Record<string, string> = {
    ok: trans.__('stable'),
    warn: trans.__('shifting'),
    drift: trans.__('drift'),
    unknown: trans.__('not compared')
  };
  const title = psi === null || psi === undefined ? words[verdict] : trans.__('PSI %1 against %2', psi.toFixed(3), against ?? '');
  return (
    <span className="jp-mlops-Flag" data-verdict={verdict} title={title}>
      {psi !== null && psi !== undefined && verdict === 'ok' ? psi.toFixed(2) : words[verdict] ?? verdict}
    </span>
  );
}
