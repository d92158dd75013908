/**
 * Data profiles: each tabular input of the latest session as a compact table (per column its kind, nulls,
 * a summary and a small histogram or its top value) with drift flags against the previous session
 * (PSI ≥ 0.2 drift, ≥ 0.1 warn; `jupyter mlops drift` gives the same verdicts). Fetched from
 * `/mlops/profiles` whenever the shown session or its number of cell runs changes.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { TrackedNotebook } from '../model';
import { api } from '../server';
import { IProfiledInput, IProfileField } from '../tokens';
import { Empty, Flag, Section, useServerRead } from './common';

export function Profiles(props: { notebook: TrackedNotebook; trans: TranslationBundle }): JSX.Element | null {
  const { notebook, trans } = props;
  const runs = notebook.timeline.length;
  const { data: profiles, error } = useServerRead(
    () => (notebook.serverExtensionMissing ? null : api.profiles(notebook.path)),
    [notebook.path, notebook.shownSession, runs]
  );
  const failed = error ? (error instanceof Error ? error.message : String(error)) : null;
  const inputs = profiles?.inputs ?? [];
  return (
    <Section title={trans.__('Data profiles')} count={inputs.length} className="jp-mlops-Profiles">
      {/* the panel itself says when the server extension is missing: not once more per section */}
      {failed && !notebook.serverExtensionMissing && <div className="jp-mlops-warning">{failed}</div>}
      {inputs.length === 0 ? (
        <Empty>{trans.__('No CSV or parquet input profiled yet.')}</Empty>
      ) : (
        inputs.map(input => <Input key={input.name} input={input} compared={!!profiles?.previous} trans={trans} />)
      )}
    </Section>
  );
}

function Input(props: { input: IProfiledInput; compared: boolean; trans: TranslationBundle }): JSX.Element {
  const { input, trans } = props;
  return (
    <div className="jp-mlops-Profile" data-input={input.name} data-verdict={input.verdict ?? ''}>
      <div className="jp-mlops-Profile-head">
        <span className="jp-mlops-Profile-name">{input.name}</span>
        {input.rows !== undefined && (
          <span className="jp-mlops-Profile-meta">
            {trans.__('%1 rows × %2 columns', input.rows.toLocaleString(), input.columns ?? 0)}
            {input.sampled && ` · ${trans.__('sample of %1', (input.sample_rows ?? 0).toLocaleString())}`}
          </span>
        )}
        {input.verdict && <Flag verdict={input.verdict} trans={trans} />}
        {!props.compared && input.rows !== undefined && (
          <span className="jp-mlops-Profile-meta">{trans.__('no previous session to compare with')}</span>
        )}
      </div>
      {input.note && <div className="jp-mlops-note">{input.note}</div>}
      {input.fields.length > 0 && (
        <table className="jp-mlops-Table">
          <thead>
            <tr>
              <th>{trans.__('Column')}</th>
              <th>{trans.__('Distribution')}</th>
            </tr>
          </thead>
          <tbody>
            {input.fields.map(field => (
              <Column key={field.name} field={field} trans={trans} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Column(props: { field: IProfileField; trans: TranslationBundle }): JSX.Element {
  const { field, trans } = props;
  const nulls = field.null_fraction > 0 ? ` · ${trans.__('%1% null', (field.null_fraction * 100).toFixed(1))}` : '';
  return (
    <tr className={field.verdict && field.verdict !== 'ok' ? `jp-mlops-${field.verdict}` : ''} data-column={field.name}
      data-verdict={field.verdict ?? ''}>
      <td className="jp-mlops-path" title={`${field.name} (${field.dtype})`}>
        {field.name}
        <div className="jp-mlops-sub">
          {field.verdict && <><Flag verdict={field.verdict} psi={field.psi} against={trans.__('the previous session')} trans={trans} /> </>}
          {field.kind === 'numeric'
            ? `${number(field.min)} … ${number(field.max)}, ${trans.__('mean')} ${number(field.mean)}`
            : trans.__('%1 distinct', field.cardinality ?? 0)}
          {nulls}
        </div>
      </td>
      <td>
        {field.kind === 'numeric' ? (
          <Histogram counts={field.histogram ?? []} title={trans.__('histogram of %1', field.name)} />
        ) : (
          <TopValues field={field} />
        )}
      </td>
    </tr>
  );
}

/** Bars of equal width, heights relative to the fullest bin; the drift colour comes from the row's class. */
function Histogram(props: { counts: number[]; title: string }): JSX.Element | null {
  const { counts } = props;
  if (counts.length === 0) {
    return null;
  }
  const width = 56;
  const height = 18;
  const top = Math.max(...counts) || 1;
  const bar = width / counts.length;
  return (
    <svg className="jp-mlops-Histogram" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img">
      <title>{props.title}</title>
      {counts.map((count, i) => {
        const h = count ? Math.max(1, (count / top) * height) : 0;
        return <rect key={i} x={i * bar} y={height - h} width={Math.max(0.5, bar - 0.5)} height={h} />;
      })}
    </svg>
  );
}

function TopValues(props: { field: IProfileField }): JSX.Element {
  const top = props.field.top ?? [];
  const total = top.reduce((sum, [, count]) => sum + count, 0) + (props.field.other ?? 0) || 1;
  return (
    <span className="jp-mlops-sub jp-mlops-Top" title={top.map(([value, count]) => `${value}: ${count}`).join('\n')}>
      {top.length > 0 && `${top[0][0]} ${Math.round((top[0][1] / total) * 100)}%`}
      {top.length > 1 && ` +${(props.field.cardinality ?? top.length) - 1}`}
    </span>
  );
}

function number(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '–';
  }
  return Math.abs(value) >= 1000 || Number.isInteger(value) ? value.toLocaleString(undefined, { maximumFractionDigits: 0 })
    : value.toPrecision(3);
}
