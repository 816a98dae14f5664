// What Start will do in an output dir that already holds a run: its checkpoints (broken ones shown, not selectable)
// and the plan of the CLI's own planner for the form as it stands — changed keys and their effect, refusals, the
// data cursor, and the LR of the steps done and to come with a marker where the new LR takes effect.
import type { CheckpointInfo, PlanResponse, PlanRowJson } from '../api.js';
import { Chart } from '../chart.js';
import { t } from '../i18n/index.js';
import { shown } from './fields.js';

function Checkpoints({ checkpoints, chosen, onChoose }: {
  checkpoints: CheckpointInfo[];
  chosen: string | null;
  onChoose: (name: string | null) => void;
}) {
  return (
    <table data-testid="checkpoints">
      <thead><tr><th /><th>{t('checkpoint')}</th><th>{t('step')}</th><th>{t('time')}</th><th>{t('loss')}</th>
        <th>{t('manifest')}</th></tr></thead>
      <tbody>
        {checkpoints.map((c) => (
          <tr class={`${c.verified ? '' : 'broken'} ${chosen === c.name ? 'selected' : ''}`} data-checkpoint={c.name}>
            <td><input type="radio" name="checkpoint" disabled={!c.verified} checked={chosen === c.name}
              onChange={() => onChoose(c.name)} /></td>
            <td>{c.name}{c.weightsOnly ? ` (${t('weightsOnly')})` : ''}</td>
            <td>{c.step}</td>
            <td>{new Date(c.time).toLocaleString()}</td>
            <td>{c.loss === null ? '—' : c.loss.toFixed(4)}</td>
            <td>{c.verified ? <span class="ok">✓ {t('verifies')}</span> : <span class="error">✗ {c.reason}</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PlanRows({ rows, testId }: { rows: PlanRowJson[]; testId: string }) {
  return (
    <table class="plan" data-testid={testId}>
      <thead><tr><th>{t('key')}</th><th>{t('old')}</th><th>{t('new')}</th><th>{t('effect')}</th></tr></thead>
      <tbody>
        {rows.map((r) => (
          <tr class={r.kind === 'structural' || r.effect.startsWith('refused') ? 'refuse' : ''} data-field={r.field}>
            <td><code>{r.field}</code></td><td>{shown(r.old)}</td><td>{shown(r.new)}</td><td class="effect">{r.effect}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// Steps done in grey, steps to come in colour; the x of a plan point is the step that runs with it.
export function PlanLrChart({ plan }: { plan: PlanResponse }) {
  const done = new Map(plan.lr.done.map((p) => [p.step + 1, p.lr]));
  const coming = new Map(plan.lr.planned.map((p) => [p.step + 1, p.lr]));
  const x = [...new Set([...done.keys(), ...coming.keys()])].sort((a, b) => a - b);
  const markers = plan.lr.changeAt !== null ? [{ x: plan.lr.changeAt + 1, label: t('newLrHere') }] : [];
  return (
    <Chart title={t('planLrChart')} testId="plan-lr-chart" x={x} markers={markers}
      ys={[x.map((s) => done.get(s) ?? null), x.map((s) => coming.get(s) ?? null)]}
      series={[{ label: t('stepsDone'), color: '#9ca3af', width: 2 }, { label: t('stepsToCome'), color: '#4f46e5', width: 2 }]} />
  );
}

export function PlanView({ plan }: { plan: PlanResponse }) {
  return (
    <div data-testid="plan" data-kind={plan.kind}>
      {plan.kind === 'resume' ? (
        <p>
          {t('planResume', { checkpoint: plan.checkpoint ?? '', step: plan.step, total: plan.totalSteps })}{' '}
          <span class="muted">resume_policy={plan.policy}, resume_lr_mode={plan.lrMode}</span>
        </p>
      ) : (
        <p>{t('planFresh', { total: plan.totalSteps })}</p>
      )}
      {plan.refusal !== null && <p class="error" data-testid="plan-refusal">{t('refused')}: {plan.refusal}</p>}
      {plan.finished && <p class="warn">{t('planFinished')}</p>}
      {plan.kind === 'resume' && plan.rows.length === 0 && <p class="ok" data-testid="plan-unchanged">{t('planUnchanged')}</p>}
      {plan.rows.length > 0 && <PlanRows rows={plan.rows} testId="plan-rows" />}
      {plan.info.length > 0 && (
        <details><summary class="muted">{t('planInfo', { n: plan.info.length })}</summary>
          <PlanRows rows={plan.info} testId="plan-info" /></details>
      )}
      {plan.kind === 'resume' && (
        <p class="muted" data-testid="plan-cursor">
          {t('planCursor', { epoch: plan.cursor.epoch, consumed: plan.cursor.consumed, size: plan.cursor.datasetSize })}
          {plan.cursor.datasetChanged ? ` ${t('datasetChanged')}` : ''}
          {plan.effectiveBatch.old !== plan.effectiveBatch.new
            ? ` ${t('effectiveBatch', { old: plan.effectiveBatch.old, new: plan.effectiveBatch.new })}` : ''}
          {plan.resetOptimizer ? ` ${t('resetOptimizer')}` : ''}
        </p>
      )}
      <PlanLrChart plan={plan} />
      <details><summary class="muted">{t('planText')}</summary><pre class="command">{plan.text}</pre></details>
    </div>
  );
}

export interface ResumePanelProps {
  checkpoints: CheckpointInfo[];
  chosen: string | null;
  onChoose: (name: string | null) => void;
  plan: PlanResponse | null;
  planError: string | null;
}

export function ResumePanel({ checkpoints, chosen, onChoose, plan, planError }: ResumePanelProps) {
  return (
    <section class="card" data-testid="resume-panel">
      <h2>{t('resumePanel')}</h2>
      {checkpoints.length > 0 ? (
        <>
          <Checkpoints checkpoints={checkpoints} chosen={chosen} onChoose={onChoose} />
          <p class="muted">{chosen === null ? t('latestCheckpoint') : ''}
            {chosen !== null && <button onClick={() => onChoose(null)}>{t('useLatest')}</button>}</p>
        </>
      ) : <p class="muted">{t('noCheckpoints')}</p>}
      {planError !== null && <p class="error" data-testid="plan-error">{planError}</p>}
      {plan !== null && <PlanView plan={plan} />}
    </section>
  );
}
