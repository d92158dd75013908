/** Data files read and written: short md5, size, the cell that last touched them; changed hashes stand out. */
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { cellNumber, revealCell } from '../actions';
import { ITrackedNotebook } from '../tokens';
import { Empty, formatSize, Section, shortHash } from './common';

export function DataFiles(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const files = notebook.files;
  return (
    <Section title={trans.__('Data')} count={files.length} className="jp-mlops-Data">
      {files.length === 0 ? (
        <Empty>{trans.__('No data files read or written yet.')}</Empty>
      ) : (
        <table className="jp-mlops-Table">
          <thead>
            <tr><th>{trans.__('File')}</th><th>md5</th><th>{trans.__('Size')}</th></tr>
          </thead>
          <tbody>
            {files.map(f => {
              const number = cellNumber(notebook.panel, f.cellId);
              return (
                <tr key={`${f.path}-${f.mode}`} className={f.changed ? 'jp-mlops-changed' : ''} data-path={f.path}>
                  <td className="jp-mlops-path" title={f.path}>
                    {f.path}
                    <div className="jp-mlops-sub">
                      {f.mode === 'read' ? trans.__('read') : f.mode === 'write' ? trans.__('write') : f.mode}
                      {number !== null && (
                        <>
                          {' '}
                          <a href="#" onClick={e => { e.preventDefault(); f.cellId && void revealCell(notebook.panel, f.cellId); }}>
                            {trans.__('by cell %1', number)}
                          </a>
                        </>
                      )}
                    </div>
                  </td>
                  <td className="jp-mlops-md5" title={f.md5 ?? ''}>
                    {f.pending ? trans.__('hashing…') : shortHash(f.md5)}
                    {f.changed && (
                      <div className="jp-mlops-tag" title={trans.__('its md5 changed during this session')}>
                        {trans.__('changed')}
                      </div>
                    )}
                  </td>
                  <td className="jp-mlops-size">{formatSize(f.size)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Section>
  );
}
