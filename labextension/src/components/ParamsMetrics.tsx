/** Params, and metrics with a chart over the session's steps and one over past sessions. */
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { ITrackedNotebook } from '../tokens';
import { Empty, formatValue, Section, Sparkline } from './common';

export function ParamsMetrics(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const params = Object.entries(notebook.params);
  const metrics = [...notebook.metrics.entries()];
  return (
    <>
      <Section title={trans.__('Params')} count={params.length} className="jp-mlops-Params">
        {params.length === 0 ? (
          <Empty>{trans.__('No params: tag a cell “parameters” or call jupyter_mlops.log_param().')}</Empty>
        ) : (
          <table className="jp-mlops-Table">
            <tbody>
              {params.map(([name, value]) => (
                <tr key={name} data-param={name}><td className="jp-mlops-name">{name}</td><td>{formatValue(value)}</td></tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title={trans.__('Metrics')} count={metrics.length} className="jp-mlops-Metrics">
        {metrics.length === 0 ? (
          <Empty>{trans.__('No metrics: call jupyter_mlops.log_metric() or watch a variable with --metrics.')}</Empty>
        ) : (
          <table className="jp-mlops-Table">
            <thead>
              <tr>
                <th>{trans.__('Metric')}</th>
                <th>{trans.__('Latest')}</th>
                <th title={trans.__("this session's logged values")}>{trans.__('Steps')}</th>
                <th title={trans.__('the last value of each past session')}>{trans.__('Past')}</th>
              </tr>
            </thead>
            <tbody>
              {metrics.map(([name, values]) => {
                const latest = values[values.length - 1];
                const steps = values.map(v => v.value).filter((v): v is number => typeof v === 'number');
                const past = notebook.metricAcrossSessions(name).map(p => p.value);
                return (
                  <tr key={name} data-metric={name}>
                    <td className="jp-mlops-name">{name}</td>
                    <td title={latest.reproducible === false ? trans.__('logged while the state was not reproducible') : ''}>
                      {formatValue(latest.value)}
                      {latest.reproducible === false && <span className="jp-mlops-bad-mark"> ✗</span>}
                    </td>
                    <td><Sparkline values={steps} title={trans.__("%1 over this session's steps", name)} /></td>
                    <td>
                      <Sparkline values={past} title={trans._n('%2 over the last session', '%2 over the last %1 sessions', past.length, name)} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
