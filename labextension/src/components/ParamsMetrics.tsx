/** Params, and metrics with a chart over the session's steps and one over past sessions. */
import React from 'react';

import { NotebookModel } from '../model';
import { Empty, formatValue, Section, Sparkline } from './common';

export function ParamsMetrics(props: { model: NotebookModel }): JSX.Element {
  const { model } = props;
  const params = Object.entries(model.params);
  const metrics = [...model.metrics.entries()];
  return (
    <>
      <Section title="Params" count={params.length} className="jp-mlops-Params">
        {params.length === 0 ? (
          <Empty>No params: tag a cell “parameters” or call jupyter_mlops.log_param().</Empty>
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
      <Section title="Metrics" count={metrics.length} className="jp-mlops-Metrics">
        {metrics.length === 0 ? (
          <Empty>No metrics: call jupyter_mlops.log_metric() or watch a variable with --metrics.</Empty>
        ) : (
          <table className="jp-mlops-Table">
            <thead>
              <tr><th>Metric</th><th>Latest</th><th title="this session's logged values">Steps</th><th title="the last value of each past session">Past</th></tr>
            </thead>
            <tbody>
              {metrics.map(([name, values]) => {
                const latest = values[values.length - 1];
                const steps = values.map(v => v.value).filter((v): v is number => typeof v === 'number');
                const past = model.metricAcrossSessions(name).map(p => p.value);
                return (
                  <tr key={name} data-metric={name}>
                    <td className="jp-mlops-name">{name}</td>
                    <td title={latest.reproducible === false ? 'logged while the state was not reproducible' : ''}>
                      {formatValue(latest.value)}
                      {latest.reproducible === false && <span className="jp-mlops-bad-mark"> ✗</span>}
                    </td>
                    <td><Sparkline values={steps} title={`${name} over this session's steps`} /></td>
                    <td><Sparkline values={past} title={`${name} over the last ${past.length} sessions`} /></td>
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
