/**
 * Text and JSON shapes of a `kdumpkit setup` plan and of what applying it did. Pure functions:
 * the CLI decides where the text goes and whether to ask before applying.
 */
import type { ApplyResult } from '../host/file-plan.js';
import type { SetupPlan } from '../host/setup.js';
import { unifiedDiff } from '../util/diff.js';

function mode(m: number): string {
  return '0' + m.toString(8).padStart(3, '0');
}

/** What a change does, in one word. */
function verb(c: SetupPlan['changes'][number]): string {
  return c.old === undefined ? 'create' : c.new === undefined ? 'remove' : 'modify';
}

/** The plan as the user sees it before deciding: summary, unified diffs, actions, reboot verdict. */
export function renderSetupPlan(plan: SetupPlan): string {
  const out: string[] = [];
  out.push(`Bootloader: ${plan.bootloader} (${plan.detectedBy})`);
  out.push(`crashkernel=${plan.crashkernel.value} (from ${plan.crashkernel.source === 'option' ? '--crashkernel' : plan.crashkernel.source === 'config' ? '/etc/kdumpkit.conf' : 'kdumpkit recommend'})`);
  out.push(`Units run: ${plan.kdumpkit.join(' ')}`);
  out.push('');
  if (plan.changes.length === 0 && plan.actions.length === 0) {
    out.push('Nothing to change: every file is already as kdumpkit setup would write it.');
  } else {
    out.push('Files:');
    for (const c of plan.changes) out.push(`  ${verb(c).padEnd(7)} ${c.path}${c.new !== undefined ? ` (${mode(c.mode)})` : ''}  — ${c.why}`);
    for (const u of plan.unchanged) out.push(`  ${'keep'.padEnd(7)} ${u}  (already up to date)`);
    out.push('');
    for (const c of plan.changes) out.push(unifiedDiff(c.path, c.old, c.new).trimEnd(), '');
    if (plan.actions.length) {
      out.push('Then run:');
      for (const a of plan.actions) out.push(`  ${a.argv.join(' ')}  — ${a.why}${a.skip ? `\n    (skipped: ${a.skip})` : ''}`);
      out.push('');
    }
  }
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  out.push(plan.reboot.needed ? `Reboot needed: ${plan.reboot.why}.` : `No reboot needed: ${plan.reboot.why}.`);
  return out.join('\n') + '\n';
}

/** After applying: what was written, backed up, run. */
export function renderSetupResult(plan: SetupPlan, r: ApplyResult): string {
  const out: string[] = [];
  for (const w of r.written) out.push(`wrote ${w}`);
  for (const b of r.backups) out.push(`backup ${b}`);
  for (const a of r.actions) out.push(a.status === 'ok' ? `ran ${a.argv.join(' ')}` : `skipped ${a.argv.join(' ')}: ${a.note ?? ''}`);
  out.push(plan.reboot.needed ? `Reboot to activate the crashkernel= reservation (${plan.reboot.why}); then 'kdumpkit status' should say loaded.` : "Done. 'kdumpkit status' shows whether the capture kernel is loaded.");
  return out.join('\n') + '\n';
}

/** The plan as JSON data (--json): every change with its old and new content and its diff. */
export function setupPlanJson(plan: SetupPlan, result?: ApplyResult, dryRun = false): Record<string, unknown> {
  return {
    root: plan.root,
    dryRun,
    bootloader: plan.bootloader,
    detectedBy: plan.detectedBy,
    crashkernel: plan.crashkernel,
    kdumpkit: plan.kdumpkit,
    config: plan.config,
    changes: plan.changes.map((c) => ({ path: c.path, action: verb(c), mode: mode(c.mode), why: c.why, old: c.old ?? null, new: c.new ?? null, diff: unifiedDiff(c.path, c.old, c.new) })),
    unchanged: plan.unchanged,
    actions: plan.actions.map((a) => ({ argv: a.argv, why: a.why, skip: a.skip ?? null })),
    warnings: plan.warnings,
    reboot: plan.reboot,
    applied: result ? { written: result.written, backups: result.backups, actions: result.actions } : null,
  };
}
