/**
 * The models the shown session wrote, as the MLflow mirror logged them: each with its registry versions and
 * aliases, and a Register button (name prefilled from the experiment, alias `candidate`). The server applies
 * the same gate as `jupyter mlops register`; a refusal shows its reason and what to do here.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import { describeError } from '../model';
import { api } from '../server';
import { IProblem, ISessionModel, ITrackedNotebook } from '../tokens';
import { Empty, Problem, Section, shortHash, useServerRead } from './common';

/** Files the mirror may turn into models: while one is written and not listed yet, the list is read again. */
const MODEL_SUFFIXES = ['.joblib', '.pkl', '.pickle'];
const WAIT_FOR_MIRROR_MS = 3000;
const WAIT_ATTEMPTS = 10;

export function Models(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element | null {
  const { notebook, trans } = props;
  const session = notebook.shownSession;
  const writes = notebook.files.filter(f => f.mode === 'write' && f.md5);
  const written = writes.map(f => `${f.path}:${f.md5}`).join('|');
  const [reload, setReload] = useState(0);
  const [attempts, setAttempts] = useState(0);
  const { data: listing, error } = useServerRead(
    () => (!session || notebook.serverExtensionMissing ? null : api.models(notebook.path, session)),
    [notebook.path, session, written, reload]
  );
  const problem = error ? describeError(error, trans) : null;

  useEffect(() => setAttempts(0), [session, written]);
  useEffect(() => {
    // The mirror logs a model shortly after the cell that wrote it: look again until it is there
    const missing = writes.some(f => MODEL_SUFFIXES.some(s => f.path.toLowerCase().endsWith(s)) &&
      !listing?.models.some(m => m.path === f.path && m.md5 === f.md5));
    if (!listing || !missing || attempts >= WAIT_ATTEMPTS) {
      return;
    }
    const timer = window.setTimeout(() => {
      setAttempts(n => n + 1);
      setReload(n => n + 1);
    }, WAIT_FOR_MIRROR_MS);
    return () => window.clearTimeout(timer);
  }, [listing, written, attempts]);

  if (!session) {
    return null;
  }
  const models = listing?.session === session ? listing.models : [];
  return (
    <Section title={trans.__('Models')} count={models.length} className="jp-mlops-Models">
      {problem && <Problem problem={problem} />}
      {listing?.note && <div className="jp-mlops-note">{listing.note}</div>}
      {models.length === 0 ? (
        <Empty>{trans.__('No model written by this session (a joblib/pickle file or an MLflow model folder).')}</Empty>
      ) : (
        models.map(m => (
          <Model key={m.path} model={m} notebook={notebook} session={session}
            suggested={listing?.suggested_name ?? ''} trans={trans} onRegistered={() => setReload(n => n + 1)} />
        ))
      )}
      <Button small minimal className="jp-mlops-models-refresh" onClick={() => setReload(n => n + 1)}
        title={trans.__('Read the models again (the mirror logs them shortly after the cell)')}>
        {trans.__('Refresh')}
      </Button>
    </Section>
  );
}

function Model(props: {
  model: ISessionModel;
  notebook: ITrackedNotebook;
  session: string;
  suggested: string;
  trans: TranslationBundle;
  onRegistered: () => void;
}): JSX.Element {
  const { model, trans } = props;
  const [name, setName] = useState(props.suggested);
  const [alias, setAlias] = useState('candidate');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<IProblem | null>(null);

  const register = async (): Promise<void> => {
    setBusy(true);
    setProblem(null);
    try {
      await api.register(props.notebook.path, props.session, model.path, name.trim(), alias.trim());
      props.onRegistered();
    } catch (error) {
      setProblem(describeError(error, trans));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="jp-mlops-model" data-path={model.path}>
      <div className="jp-mlops-path" title={model.md5}>
        {model.path} <span className="jp-mlops-md5">{shortHash(model.md5)}</span>
        <div className="jp-mlops-sub">
          {model.model_id ? trans.__('MLflow model (%1)', model.flavor ?? '?') : trans.__('not an MLflow model')}
          {model.note && <> · {model.note}</>}
        </div>
      </div>
      {model.versions.length > 0 && (
        <ul className="jp-mlops-versions">
          {model.versions.map(v => (
            <li key={`${v.name}/${v.version}`} className="jp-mlops-version">
              {trans.__('%1 version %2', v.name, v.version)}
              {v.aliases.map(a => <span key={a} className="jp-mlops-pill jp-mlops-alias">@{a}</span>)}
            </li>
          ))}
        </ul>
      )}
      {model.model_id && (
        <form className="jp-mlops-register-form" onSubmit={e => { e.preventDefault(); void register(); }}>
          <input className="jp-mlops-register-name" aria-label={trans.__('registered model name')}
            value={name} onChange={e => setName(e.target.value)} />
          <input className="jp-mlops-register-alias" aria-label={trans.__('alias')}
            value={alias} onChange={e => setAlias(e.target.value)} />
          <Button small type="submit" className="jp-mlops-register" disabled={busy || !name.trim()}
            title={trans.__('Register this model in MLflow (refused unless the session is reproducible and verified)')}>
            {busy ? trans.__('Registering…') : trans.__('Register')}
          </Button>
        </form>
      )}
      {problem && <Problem prefix={trans.__('Register refused: ')} problem={problem} />}
    </div>
  );
}
