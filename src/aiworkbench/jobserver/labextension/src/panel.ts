/**
 * The session panel in the right area: the job, its resources, what is left, and the
 * ways to extend, stop or get help. Built with DOM text nodes only (no HTML strings).
 */

import { Widget } from '@lumino/widgets';

import {
  budgetLeft,
  clockTime,
  duration,
  gpuName,
  helpPage,
  ISessionStatus,
  sessionsPage
} from './status';

export class SessionPanel extends Widget {
  private _facts = element('dl', '', 'aiwb-session-facts');
  private _note = element('p', '', 'aiwb-session-note');

  constructor() {
    super();
    this.id = 'aiwb-session-panel';
    this.addClass('aiwb-session-panel');
    this.title.label = 'Session';
    this.title.caption = 'This workbench session: its job, time and budget left';
    this.node.append(this._facts, this._note, this._links());
  }

  /** Show `status`; `endsAt`: when the session ends (this browser's clock), or null. */
  render(status: ISessionStatus, endsAt: number | null): void {
    const left = endsAt === null ? null : Math.max(endsAt - Date.now() / 1000, 0);
    const gpus = status.gpus
      ? `${status.gpus} ${gpuName(status)}${status.gpus > 1 ? 's' : ''}`
      : 'none';
    const rows: [string, string][] = [
      ['Job', status.job_id ?? '—'],
      ['Node', status.node ?? '—'],
      ['Partition', status.partition ?? '—'],
      ['Project', status.project ?? '—'],
      ['Cores', status.cpus === null ? '—' : String(status.cpus)],
      ['GPUs', gpus],
      [
        'Time left',
        left === null
          ? status.ending ? 'ending soon' : '—'
          : `${duration(left)} (until ${clockTime(endsAt as number)})`
      ],
      ['Budget left', budgetLeft(status) ?? '—'],
      [
        'GPU utilisation',
        status.gpu_utilisation === null ? '—' : `${status.gpu_utilisation.toFixed(0)}%`
      ]
    ];
    this._facts.replaceChildren(
      ...rows.flatMap(([name, value]) => [element('dt', name), element('dd', value)])
    );
    this._note.textContent = status.error
      ? `Note: ${status.error}; the numbers shown are the last known ones.`
      : '';
  }

  private _links(): HTMLElement {
    const list = element('ul', '', 'aiwb-session-links');
    for (const [text, href] of [
      ['Extend or stop it on your sessions page', sessionsPage()],
      ['Get help', helpPage()]
    ]) {
      const link = element('a', text) as HTMLAnchorElement;
      link.href = href;
      link.target = '_blank';
      link.rel = 'noopener';
      list.append(element('li', '', '', link));
    }
    return list;
  }

}

function element(
  tag: string,
  text: string,
  className = '',
  ...children: HTMLElement[]
): HTMLElement {
  const node = document.createElement(tag);
  node.textContent = text;
  node.className = className;
  node.append(...children);
  return node;
}
