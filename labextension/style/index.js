import './base.css';
import './profiles.css';
import './sweeps.css';
