# frozen_string_literal: true
#
# redmine-provision.rb - make a Redmine 5.0 instance ready for syncd's tests and demo.
# Idempotent: a second run changes nothing and prints the same ids.
#
# usage (as root):  DATADIR/redmine-runner - < scripts/redmine-provision.rb
#                   (scripts/test-env.sh does this; redmine-up.sh writes DATADIR/redmine-runner)
#
# What it ensures:
#   - issue statuses New, In Progress, Resolved, Feedback, Closed, Rejected exist (existing ones
#     keep their is_closed flag: in Redmine's default data Closed and Rejected are closed,
#     Resolved is NOT);
#   - trackers Bug, Feature, Support exist and each has a status workflow (Redmine's default
#     data has them; a tracker without any transition gets Bug's, or a full matrix). Admins use
#     the workflows of all roles, so they can make every transition;
#   - role Developer can view/add/edit issues and log time (used by the tests' project members);
#   - issue custom field "Zendesk ticket": string, for all projects, all trackers, used as a
#     filter (GET /issues.json?cf_N=VALUE), searchable, visible to everyone, optional;
#   - time-entry activities Support and Internal (active), besides the defaults;
#   - time-entry custom field "Billable": bool, optional;
#   - settings: login not required, REST API enabled, new projects get issue_tracking and
#     time_tracking.
#
# Output: progress lines on stderr; exactly one line of JSON on stdout, e.g.
#   {"ticket_field_id":1,"billable_field_id":2,"activities":{"Design":8,...},
#    "trackers":{"Bug":1,...},"statuses":{"New":1,...},"closed_statuses":["Closed","Rejected"],
#    "priorities":{"Low":1,...},"default_priority":"Normal","roles":{"Manager":3,...},
#    "redmine_version":"5.0.4.stable"}

require 'json'

TICKET_FIELD = 'Zendesk ticket'
BILLABLE_FIELD = 'Billable'
STATUSES = [['New', false], ['In Progress', false], ['Resolved', false],
            ['Feedback', false], ['Closed', true], ['Rejected', true]].freeze
TRACKERS = %w[Bug Feature Support].freeze
ACTIVITIES = %w[Support Internal].freeze
PROJECT_MODULES = %w[issue_tracking time_tracking].freeze
DEVELOPER_PERMISSIONS = %i[view_issues add_issues edit_issues add_issue_notes
                           view_time_entries log_time edit_own_time_entries].freeze

def note(msg)
  warn "[redmine-provision] #{msg}"
end

def save!(record, what)
  changed = record.new_record? || record.changed?
  return record unless changed

  verb = record.new_record? ? 'created' : 'updated'
  unless record.save
    raise "could not save #{what}: #{record.errors.full_messages.join(', ')}"
  end

  note "#{verb} #{what} (id #{record.id})"
  record
end

def ensure_statuses
  STATUSES.each do |name, closed|
    next if IssueStatus.find_by(name: name)

    save!(IssueStatus.new(name: name, is_closed: closed), "issue status #{name.inspect}")
  end
end

def full_workflow(tracker)
  statuses = IssueStatus.sorted.to_a
  Role.givable.each do |role|
    statuses.each do |from|
      statuses.each do |to|
        next if from == to

        WorkflowTransition.create!(tracker_id: tracker.id, role_id: role.id,
                                   old_status_id: from.id, new_status_id: to.id)
      end
    end
  end
end

def ensure_trackers
  new_status = IssueStatus.find_by!(name: 'New')
  TRACKERS.each do |name|
    tracker = Tracker.find_by(name: name) || Tracker.new(name: name, default_status: new_status)
    save!(tracker, "tracker #{name.inspect}")
    next if WorkflowTransition.where(tracker_id: tracker.id).exists?

    source = Tracker.sorted.detect { |t| WorkflowTransition.where(tracker_id: t.id).exists? }
    if source
      WorkflowRule.copy(source, nil, [tracker], Role.givable.to_a)
      note "copied the workflow of tracker #{source.name.inspect} to #{name.inspect}"
    else
      full_workflow(tracker)
      note "created a full status workflow for tracker #{name.inspect}"
    end
  end
end

def ensure_developer_role
  role = Role.find_by(name: 'Developer') || Role.new(name: 'Developer', assignable: true)
  save!(role, 'role "Developer"')
  missing = DEVELOPER_PERMISSIONS - role.permissions
  return if missing.empty?

  role.permissions = role.permissions | missing
  save!(role, "role \"Developer\" (+#{missing.join(', ')})")
end

def ensure_ticket_field
  cf = IssueCustomField.find_by(name: TICKET_FIELD) ||
       IssueCustomField.new(name: TICKET_FIELD, field_format: 'string')
  if cf.field_format != 'string'
    raise "custom field #{TICKET_FIELD.inspect} exists with format #{cf.field_format.inspect}"
  end

  cf.description = 'Zendesk ticket ID linked to this issue (written by syncd)' if cf.new_record?
  cf.is_for_all = true
  cf.is_filter = true
  cf.searchable = true
  cf.visible = true
  cf.is_required = false
  save!(cf, "issue custom field #{TICKET_FIELD.inspect}")
  all_trackers = Tracker.pluck(:id).sort
  if cf.tracker_ids.sort != all_trackers
    cf.tracker_ids = all_trackers
    note "enabled #{TICKET_FIELD.inspect} for all trackers"
  end
  cf
end

def ensure_billable_field
  cf = TimeEntryCustomField.find_by(name: BILLABLE_FIELD) ||
       TimeEntryCustomField.new(name: BILLABLE_FIELD, field_format: 'bool')
  if cf.field_format != 'bool'
    raise "custom field #{BILLABLE_FIELD.inspect} exists with format #{cf.field_format.inspect}"
  end

  if cf.new_record?
    cf.description = 'Whether the time is billed to the client (empty: decided by the rules)'
  end
  cf.is_required = false
  cf.is_filter = true
  cf.visible = true
  save!(cf, "time-entry custom field #{BILLABLE_FIELD.inspect}")
end

def ensure_activities
  ACTIVITIES.each do |name|
    activity = TimeEntryActivity.find_by(name: name, project_id: nil) ||
               TimeEntryActivity.new(name: name)
    activity.active = true
    save!(activity, "time-entry activity #{name.inspect}")
  end
end

def ensure_settings
  if Setting.login_required?
    Setting.login_required = '0'
    note 'disabled login_required'
  end
  unless Setting.rest_api_enabled?
    Setting.rest_api_enabled = '1'
    note 'enabled the REST API'
  end
  # Mail rendered in a thread beside the request locks SQLite against it: Redmine answers 500
  # after ~30 s to a PUT that did land. Tests and the demo send no mail.
  unless Setting.notified_events.empty?
    Setting.notified_events = []
    note 'disabled e-mail notifications'
  end
  modules = Array(Setting.default_projects_modules)
  missing = PROJECT_MODULES - modules
  return if missing.empty?

  Setting.default_projects_modules = modules + missing
  note "default project modules += #{missing.join(', ')}"
end

def ids_by_name(scope)
  scope.to_a.to_h { |r| [r.name, r.id] }
end

result = nil
ActiveRecord::Base.transaction do
  ensure_statuses
  ensure_trackers
  ensure_developer_role
  ticket_field = ensure_ticket_field
  billable_field = ensure_billable_field
  ensure_activities
  ensure_settings

  raise 'login_required is still on' if Setting.login_required?
  raise 'the REST API is still disabled' unless Setting.rest_api_enabled?

  result = {
    ticket_field_id: ticket_field.id,
    billable_field_id: billable_field.id,
    activities: ids_by_name(TimeEntryActivity.shared.active.sorted),
    trackers: ids_by_name(Tracker.sorted),
    statuses: ids_by_name(IssueStatus.sorted),
    closed_statuses: IssueStatus.sorted.select(&:is_closed?).map(&:name),
    priorities: ids_by_name(IssuePriority.shared.active.sorted),
    default_priority: IssuePriority.default&.name,
    roles: ids_by_name(Role.givable.sorted),
    redmine_version: Redmine::VERSION.to_s
  }
end

$stdout.puts JSON.generate(result)
