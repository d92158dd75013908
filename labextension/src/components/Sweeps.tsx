/**
 * Sweeps: the project's `jupyter mlops sweep` runs from `/mlops/sweeps`, the latest shown (a selector when
 * there are several) as its table — swept params, metrics, state, the best row marked — with a small chart
 * of a chosen metric against a chosen param. Clicking a row shows its tracked session (a session of the
 * exported stage notebook, not of this one, so it is detailed here rather than in the Sessions list);
 * "Apply" is `dvc exp apply` of that experiment (`POST /mlops/sweeps/apply`, as `sweep --apply`).
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { describeError } from '../model';
import { api } from '../server';
import { IApplyResult, IProblem, ISweep, ISweepRow, ITrackedNotebook } from '../tokens';
import { Empty, formatTime, formatValue, Problem, Section, useServerRead } from './common';

interface IApplyState {
  experiment: string;
  busy: boolean;
  result: IApplyResult | null;
  error: IProblem | null;
}

export function Sweeps(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const [chosen, setChosen] = useState<string | null>(null);
  const [asked, setAsked] = useState(0); // "Refresh": a sweep run from a terminal changes no session of this notebook
  const sessions = notebook.sessions.length;
  const { data, error } = useServerRead(
    () => (notebook.serverExtensionMissing ? null : api.sweeps(notebook.path)),
    [notebook.path, sessions, asked]
  );
  const failed = error ? describeError(error, trans) : null;
  const sweeps = data?.sweeps ?? [];
  const sweep = sweeps.find(s => s.sweep === chosen) ?? sweeps[0];
  return (
    <Section title={trans.__('Sweeps')} count={sweeps.length} className="jp-mlops-Sweeps">
      {/* the panel itself says when the server extension is missing: not once more per section */}
      {failed && !notebook.serverExtensionMissing && <Problem problem={failed} className="jp-mlops-warning" />}
      <Button small className="jp-mlops-Sweeps-refresh" onClick={() => setAsked(n => n + 1)}
        title={trans.__('Read the sweeps again (`jupyter mlops sweep` runs outside the lab)')}>
        {trans.__('Refresh')}
      </Button>
      {!sweep ? (
        <Empty>{trans.__('No sweep in this project yet: %1', "jupyter mlops sweep NOTEBOOK -S 'name=v1,v2'")}</Empty>
      ) : (
        <>
          {sweeps.length > 1 && (
            <select className="jp-mlops-Sweep-choice" aria-label={trans.__('sweep')} value={sweep.sweep}
              onChange={e => setChosen(e.target.value)}>
              {sweeps.map(s => (
                <option key={s.sweep} value={s.sweep}>{`${s.sweep} · ${s.notebook} · ${formatTime(s.created_at)}`}</option>
              ))}
            </select>
          )}
          <SweepView key={sweep.sweep} sweep={sweep} notebook={notebook} trans={trans} />
        </>
      )}
    </Section>
  );
}

/** A labelled drop-down of names (`name`: what a screen reader calls it). */
function Choice(props: {
  label: string;
  name: string;
  value: string;
  options: string[];
  onChange: (value: string) => void;
}): JSX.Element {
  return (
    <label>
      {props.label}{' '}
      <select aria-label={props.name} value={props.value} onChange={e => props.onChange(e.target.value)}>
        {props.options.map(o => <option key={o} value={o}>{o}</option>)}
      </select>
    </label>
  );
}

function SweepView(props: { sweep: ISweep; notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { sweep, notebook, trans } = props;
  const [metric, setMetric] = useState(sweep.metric ?? sweep.metrics[0] ?? '');
  const [param, setParam] = useState(sweep.params[0] ?? '');
  const [open, setOpen] = useState<string | null>(null);
  const [applied, setApplied] = useState<IApplyState | null>(null);
  const apply = async (experiment: string) => {
    setApplied({ experiment, busy: true, result: null, error: null });
    try {
      setApplied({ experiment, busy: false, result: await api.applySweep(notebook.path, experiment), error: null });
    } catch (error) {
      setApplied({ experiment, busy: false, result: null, error: describeError(error, trans) });
    }
  };
  const columns = 2 + sweep.params.length + sweep.metrics.length + 2;
  return (
    <div className="jp-mlops-Sweep" data-sweep={sweep.sweep}>
      <div className="jp-mlops-Sweep-meta">
        {trans.__('%1 of %2 · %3 experiments', sweep.sweep, sweep.notebook, sweep.rows.length)}
        {sweep.metric &&
          ` · ${sweep.order === 'ascending' ? trans.__('lowest %1 first', sweep.metric) : trans.__('highest %1 first', sweep.metric)}`}
      </div>
      {sweep.metrics.length > 0 && sweep.params.length > 0 && (
        <div className="jp-mlops-Sweep-axes">
          <Choice label={trans.__('metric')} name={trans.__('metric')} value={metric} options={sweep.metrics}
            onChange={setMetric} />
          <Choice label={trans.__('against')} name={trans.__('param')} value={param} options={sweep.params}
            onChange={setParam} />
        </div>
      )}
      {metric && param && <Chart rows={sweep.rows} metric={metric} param={param} trans={trans} />}
      <table className="jp-mlops-Table jp-mlops-Sweep-table">
        <thead>
          <tr>
            <th title={trans.__('best')}></th>
            <th>{trans.__('Experiment')}</th>
            {sweep.params.map(p => <th key={`p-${p}`} className="jp-mlops-Sweep-param">{p}</th>)}
            {sweep.metrics.map(m => <th key={`m-${m}`}>{m}</th>)}
            <th>{trans.__('State')}</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {sweep.rows.map(row => (
            <React.Fragment key={row.experiment}>
              <tr data-experiment={row.experiment} data-state={row.state}
                className={`${row.best ? 'jp-mlops-best' : ''} ${open === row.experiment ? 'jp-mlops-shown' : ''}`}
                title={trans.__('%1 — click for its session', row.experiment)}
                onClick={() => setOpen(now => (now === row.experiment ? null : row.experiment))}>
                <td>{row.best ? '★' : ''}</td>
                <td className="jp-mlops-name">{row.experiment.slice(sweep.sweep.length + 1)}</td>
                {sweep.params.map(p => <td key={`p-${p}`}>{formatValue(row.params[p])}</td>)}
                {sweep.metrics.map(m => <td key={`m-${m}`}>{formatValue(row.metrics[m])}</td>)}
                <td className={`jp-mlops-Sweep-state jp-mlops-${row.state}`}>{stateWord(row.state, trans)}</td>
                <td onClick={e => e.stopPropagation()}>
                  {row.state === 'success' && (
                    <Button small className="jp-mlops-Sweep-apply" disabled={applied?.busy}
                      title={trans.__("Bring %1's params and outputs into the workspace (dvc exp apply)", row.experiment)}
                      onClick={() => void apply(row.experiment)}>
                      {trans.__('Apply')}
                    </Button>
                  )}
                </td>
              </tr>
              {open === row.experiment && (
                <tr className="jp-mlops-Sweep-details-row">
                  <td colSpan={columns}><Details row={row} trans={trans} /></td>
                </tr>
              )}
            </React.Fragment>
          ))}
        </tbody>
      </table>
      {applied && <Applied state={applied} trans={trans} />}
    </div>
  );
}

/** The chosen metric against the chosen param, one dot per experiment that has both; the best one marked.
 * A param whose values are not all numbers is spread evenly, in sorted order. */
function Chart(props: { rows: ISweepRow[]; metric: string; param: string; trans: TranslationBundle }): JSX.Element | null {
  const { metric, param, trans } = props;
  const points = props.rows.filter(r => typeof r.metrics[metric] === 'number' && r.params[param] !== undefined && r.params[param] !== null);
  if (points.length === 0) {
    return <Empty>{trans.__('No experiment has both %1 and %2 yet.', metric, param)}</Empty>;
  }
  const width = 240;
  const height = 110;
  const left = 34;
  const bottom = 16;
  const numeric = points.every(r => typeof r.params[param] === 'number');
  const labels = [...new Set(points.map(r => String(r.params[param])))].sort();
  const xs = points.map(r => (numeric ? (r.params[param] as number) : labels.indexOf(String(r.params[param]))));
  const ys = points.map(r => r.metrics[metric]);
  const scale = (values: number[], from: number, to: number) => {
    const min = Math.min(...values);
    const span = Math.max(...values) - min;
    return (v: number) => (span ? from + ((v - min) / span) * (to - from) : (from + to) / 2);
  };
  const x = scale(xs, left + 6, width - 6);
  const y = scale(ys, height - bottom - 6, 6);
  const [low, high] = [Math.min(...ys), Math.max(...ys)];
  return (
    <svg className="jp-mlops-SweepChart" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img"
      data-metric={metric} data-param={param}>
      <title>{trans.__('%1 against %2', metric, param)}</title>
      <line className="jp-mlops-SweepChart-axis" x1={left} y1={height - bottom} x2={width} y2={height - bottom} />
      <line className="jp-mlops-SweepChart-axis" x1={left} y1={0} x2={left} y2={height - bottom} />
      <text className="jp-mlops-SweepChart-label" x={left - 3} y={10} textAnchor="end">{formatValue(high)}</text>
      <text className="jp-mlops-SweepChart-label" x={left - 3} y={height - bottom} textAnchor="end">{formatValue(low)}</text>
      <text className="jp-mlops-SweepChart-label" x={(left + width) / 2} y={height - 3} textAnchor="middle">{param}</text>
      {points.map((row, i) => (
        <circle key={row.experiment} className={`jp-mlops-SweepChart-point ${row.best ? 'jp-mlops-best' : ''}`}
          data-experiment={row.experiment} cx={x(xs[i])} cy={y(ys[i])} r={row.best ? 4.5 : 3.5}>
          <title>{`${row.experiment}: ${param}=${formatValue(row.params[param])}, ${metric}=${formatValue(ys[i])}`}</title>
        </circle>
      ))}
    </svg>
  );
}

function Details(props: { row: ISweepRow; trans: TranslationBundle }): JSX.Element {
  const { row, trans } = props;
  const details = row.details;
  if (!details) {
    return <div className="jp-mlops-Sweep-details">{trans.__('%1 has no tracked session (yet).', row.experiment)}</div>;
  }
  const pairs = (values: Record<string, unknown>) =>
    Object.entries(values).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
  return (
    <div className="jp-mlops-Sweep-details" data-session={details.id}>
      <div>
        {trans.__('session %1 of %2 · %3 · %4 cells', details.id, details.notebook ?? '—', formatTime(details.started_at),
          details.cells)}
        {details.errors > 0 && ` · ${trans.__('%1 errors', details.errors)}`}
        {details.reproducible !== null && ` · ${details.reproducible ? trans.__('reproducible') : trans.__('not reproducible')}`}
      </div>
      <div className="jp-mlops-sub">{trans.__('params: %1', pairs(details.params))}</div>
      <div className="jp-mlops-sub">{trans.__('metrics: %1', pairs(details.metrics))}</div>
      <div className="jp-mlops-hint">{trans.__('`jupyter mlops show %1` prints it whole', details.id)}</div>
    </div>
  );
}

function Applied(props: { state: IApplyState; trans: TranslationBundle }): JSX.Element {
  const { state, trans } = props;
  if (state.busy) {
    return <Empty>{trans.__('Applying %1…', state.experiment)}</Empty>;
  }
  if (state.error) {
    return <Problem problem={state.error} prefix={trans.__('Apply %1: ', state.experiment)} />;
  }
  const changed = Object.entries(state.result?.changed ?? {}).map(([k, v]) => `${k}=${formatValue(v)}`).join(', ');
  return (
    <div className="jp-mlops-Sweep-applied" role="status">
      {changed
        ? trans.__('Applied %1: %2 in params.yaml (and its outputs).', state.experiment, changed)
        : trans.__('Applied %1: no param changed (its outputs are in the workspace).', state.experiment)}
      <div className="jp-mlops-hint">{trans.__('Next: git diff, then commit; or dvc repro to re-run it here.')}</div>
    </div>
  );
}

function stateWord(state: ISweepRow['state'], trans: TranslationBundle): string {
  const words: Record<ISweepRow['state'], string> = {
    queued: trans.__('queued'),
    running: trans.__('running'),
    success: trans.__('done'),
    failed: trans.__('failed')
  };
  return words[state] ?? state;
}
