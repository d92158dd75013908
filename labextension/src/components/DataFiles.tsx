/** Data files read and written: short md5, size, the cell that last touched them; changed hashes stand out. */
import React from 'react';

import { cellNumber, revealCell } from '../actions';
import { NotebookModel } from '../model';
import { Empty, formatSize, Section, shortHash } from './common';

export function DataFiles(props: { model: NotebookModel }): JSX.Element {
  const { model } = props;
  const files = model.files;
  return (
    <Section title="Data" count={files.length} className="jp-mlops-Data">
      {files.length === 0 ? (
        <Empty>No data files read or written yet.</Empty>
      ) : (
        <table className="jp-mlops-Table">
          <thead>
            <tr><th>File</th><th>md5</th><th>Size</th></tr>
          </thead>
          <tbody>
            {files.map(f => {
              const number = cellNumber(model.panel, f.cellId);
              return (
                <tr key={`${f.path}-${f.mode}`} className={f.changed ? 'jp-mlops-changed' : ''} data-path={f.path}>
                  <td className="jp-mlops-path" title={f.path}>
                    {f.path}
                    <div className="jp-mlops-sub">
                      {f.mode}
                      {number !== null && (
                        <>
                          {' by '}
                          <a href="#" onClick={e => { e.preventDefault(); f.cellId && void revealCell(model.panel, f.cellId); }}>
                            cell {number}
                          </a>
                        </>
                      )}
                    </div>
                  </td>
                  <td className="jp-mlops-md5" title={f.md5 ?? ''}>
                    {shortHash(f.md5, f.pending)}
                    {f.changed && <div className="jp-mlops-tag" title="its md5 changed during this session">changed</div>}
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
