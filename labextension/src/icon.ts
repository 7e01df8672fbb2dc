import { LabIcon } from '@jupyterlab/ui-components';

const DOCKER_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<path d="M2 11h18.5c.4-1 1.6-1.6 2.5-1.2-.2 1-.9 1.6-1.8 1.8C20 17 15.7 20 10 20c-4.4 0-7.4-2.6-8-6.6-.1-.8-.1-1.6 0-2.4z"/>
<rect x="4" y="8" width="2.6" height="2.4"/><rect x="7.2" y="8" width="2.6" height="2.4"/>
<rect x="10.4" y="8" width="2.6" height="2.4"/><rect x="13.6" y="8" width="2.6" height="2.4"/>
<rect x="7.2" y="5" width="2.6" height="2.4"/><rect x="10.4" y="5" width="2.6" height="2.4"/>
<rect x="10.4" y="2" width="2.6" height="2.4"/>
</g></svg>`;

export const dockerIcon = new LabIcon({
  name: 'dockermagic:docker',
  svgstr: DOCKER_SVG
});
